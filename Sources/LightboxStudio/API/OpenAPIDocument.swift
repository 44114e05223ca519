/// The OpenAPI 3.0 description of the Studio's REST API, served at `/api/openapi.json`.
enum OpenAPIDocument {
    static let json = #"""
{"openapi":"3.0.3","info":{"title":"Lightbox Studio API","version":"1","description":"Local REST API of Lightbox Studio. Errors are JSON {\"error\": message}. With --token, send Authorization: Bearer TOKEN. Educational and research software, not a diagnostic device."},
"components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},
 "schemas":{"Error":{"type":"object","properties":{"error":{"type":"string"}}},
  "Name":{"type":"object","required":["name"],"properties":{"name":{"type":"string"}}},
  "Project":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"created":{"type":"string"}}},
  "Class":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"images":{"type":"integer"}}},
  "Image":{"type":"object","properties":{"id":{"type":"integer"},"classId":{"type":"integer"},"filename":{"type":"string"},"width":{"type":"integer"},"height":{"type":"integer"}}},
  "RunOptions":{"type":"object","properties":{"epochs":{"type":"integer"},"batchSize":{"type":"integer"},"learningRate":{"type":"number"},"denseUnits":{"type":"integer"},"dropout":{"type":"number"},"balance":{"type":"string"},"augmentCopies":{"type":"integer"},"split":{"type":"string"},"seed":{"type":"integer"},"resize":{"type":"string","enum":["crop","pad","stretch"]},"positive":{"type":"string"}}},
  "Run":{"type":"object","properties":{"id":{"type":"integer"},"projectId":{"type":"integer"},"status":{"type":"string","enum":["queued","running","finished","failed","interrupted"]},"progress":{"type":"object"},"metrics":{"type":"object"},"error":{"type":"string"}}}}},
"security":[{"bearer":[]}],
"paths":{
 "/api/projects":{"get":{"summary":"List projects","responses":{"200":{"description":"projects","content":{"application/json":{"schema":{"type":"array","items":{"$ref":"#/components/schemas/Project"}}}}}}},
  "post":{"summary":"Create a project","requestBody":{"required":true,"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Name"}}}},"responses":{"201":{"description":"created","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Project"}}}},"400":{"description":"bad name","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Error"}}}}}}},
 "/api/projects/{project}":{"parameters":[{"name":"project","in":"path","required":true,"schema":{"type":"integer"}}],
  "get":{"summary":"A project with its classes and runs","responses":{"200":{"description":"project"},"404":{"description":"no such project"}}},
  "delete":{"summary":"Delete a project","responses":{"204":{"description":"deleted"},"409":{"description":"a run is in progress"}}}},
 "/api/projects/{project}/classes":{"parameters":[{"name":"project","in":"path","required":true,"schema":{"type":"integer"}}],
  "post":{"summary":"Add a class","requestBody":{"required":true,"content":{"application/json":{"schema":{"$ref":"#/components/schemas/Name"}}}},"responses":{"201":{"description":"created","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Class"}}}},"409":{"description":"exists"}}}},
 "/api/projects/{project}/classes/{class}/images":{"parameters":[{"name":"project","in":"path","required":true,"schema":{"type":"integer"}},{"name":"class","in":"path","required":true,"schema":{"type":"integer"}}],
  "get":{"summary":"Images of a class","responses":{"200":{"description":"images","content":{"application/json":{"schema":{"type":"array","items":{"$ref":"#/components/schemas/Image"}}}}}}},
  "post":{"summary":"Upload one image (raw PNG or JPEG body); validated by decoding","parameters":[{"name":"filename","in":"query","schema":{"type":"string"}}],"requestBody":{"required":true,"content":{"image/png":{},"image/jpeg":{},"application/octet-stream":{}}},"responses":{"201":{"description":"stored","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Image"}}}},"400":{"description":"not an image"},"413":{"description":"too large"}}}},
 "/api/images/{image}":{"parameters":[{"name":"image","in":"path","required":true,"schema":{"type":"integer"}}],"get":{"summary":"Image bytes","responses":{"200":{"description":"PNG or JPEG"}}},"delete":{"summary":"Remove an image","responses":{"204":{"description":"removed"}}}},
 "/api/projects/{project}/import":{"parameters":[{"name":"project","in":"path","required":true,"schema":{"type":"integer"}}],"post":{"summary":"Import a data set from the server's disk (only under --import-root)","requestBody":{"required":true,"content":{"application/json":{"schema":{"type":"object","required":["path"],"properties":{"path":{"type":"string"},"source":{"type":"string","enum":["folders","covid-chestxray","csv"]}}}}}},"responses":{"200":{"description":"imported and skipped items"},"403":{"description":"outside the allowed folders"}}}},
 "/api/projects/{project}/runs":{"parameters":[{"name":"project","in":"path","required":true,"schema":{"type":"integer"}}],"post":{"summary":"Start training in the background","requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/RunOptions"}}}},"responses":{"202":{"description":"started","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Run"}}}},"409":{"description":"a run is already in progress"}}}},
 "/api/runs/{run}":{"parameters":[{"name":"run","in":"path","required":true,"schema":{"type":"integer"}}],"get":{"summary":"Run status, live progress, metrics","responses":{"200":{"description":"run","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Run"}}}}}}},
 "/api/runs/{run}/report":{"parameters":[{"name":"run","in":"path","required":true,"schema":{"type":"integer"}}],"get":{"summary":"The run's report.html","responses":{"200":{"description":"HTML"}}}},
 "/api/runs/{run}/predictions":{"parameters":[{"name":"run","in":"path","required":true,"schema":{"type":"integer"}}],"get":{"summary":"Test-split predictions with image ids","responses":{"200":{"description":"rows"}}}},
 "/api/runs/{run}/predict":{"parameters":[{"name":"run","in":"path","required":true,"schema":{"type":"integer"}}],"post":{"summary":"Classify an uploaded image; returns probabilities and a heatmap","requestBody":{"required":true,"content":{"image/png":{},"image/jpeg":{}}},"responses":{"200":{"description":"prediction"},"400":{"description":"not an image"},"409":{"description":"run not finished"}}}},
 "/api/runs/{run}/download/{format}":{"parameters":[{"name":"run","in":"path","required":true,"schema":{"type":"integer"}},{"name":"format","in":"path","required":true,"schema":{"type":"string","enum":["bundle","tfjs","onnx"]}}],"get":{"summary":"Download the model bundle, TF.js export or ONNX export","responses":{"200":{"description":"file"}}}},
 "/api/openapi.json":{"get":{"summary":"This document","security":[],"responses":{"200":{"description":"OpenAPI"}}}}}}
"""#
}
