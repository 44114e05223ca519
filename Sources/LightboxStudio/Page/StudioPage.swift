import Foundation
import Hummingbird

/// The Studio's single page: `Resources/studio.html`, `studio.js` and `studio.css`, compiled
/// into the binary (SwiftPM's embedInCode) so that `lightbox` stays one file. Script and style
/// are separate files so that the page can forbid every inline script and style (CSP).
enum StudioPage {
    enum File { case html, script, style }

    static func response(_ file: File) -> Response {
        let (bytes, type): ([UInt8], String)
        switch file {
        case .html: (bytes, type) = (PackageResources.studio_html, "text/html; charset=utf-8")
        case .script: (bytes, type) = (PackageResources.studio_js, "text/javascript; charset=utf-8")
        case .style: (bytes, type) = (PackageResources.studio_css, "text/css; charset=utf-8")
        }
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
