#ifndef LIGHTBOX_DICOM_H
#define LIGHTBOX_DICOM_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// DICOM files through DCMTK (and OpenJPEG for JPEG 2000): see docs/dicom-library-choice.md.
/// Nothing here throws, aborts or prints; failures come back as a status and a one-line message.

typedef enum {
    LIGHTBOX_DICOM_OK = 0,
    LIGHTBOX_DICOM_CORRUPT = 1,      // not readable as DICOM, or a header that contradicts itself
    LIGHTBOX_DICOM_TRUNCATED = 2,    // the data ends before the data set or its pixels do
    LIGHTBOX_DICOM_UNSUPPORTED = 3,  // a transfer syntax or pixel layout Lightbox does not decode
} lightbox_dicom_status;

/// What the header says (the first item of a sequence, the first value of a multi-valued element).
typedef struct {
    int32_t rows, columns, frames, samples_per_pixel;
    int32_t bits_allocated, bits_stored, high_bit, pixel_representation;  // pixel_representation 1: signed
    int32_t planar_configuration;
    char photometric[32];
    double rescale_slope, rescale_intercept;  // 1 and 0 when absent
    int32_t has_window;                       // the first Window Center / Width pair
    double window_center, window_width;
    char voi_lut_function[32];                // "LINEAR" when absent
    int32_t has_voi_lut;                      // VOI LUT Sequence: its first item's descriptor
    int32_t voi_lut_entries, voi_lut_first_mapped, voi_lut_bits;
    int32_t has_modality_lut;                 // Modality LUT Sequence: its first item's descriptor
    int32_t modality_lut_entries, modality_lut_first_mapped, modality_lut_bits;
    char transfer_syntax[72];                 // the UID
    char transfer_syntax_name[96];            // DCMTK's name for it, or "unknown"
    int32_t transfer_syntax_supported;
    char patient_id[72];
    char sop_instance_uid[72];
    char study_instance_uid[72];
    uint64_t frame_bytes;                     // rows x columns x samples x bits_allocated / 8
} lightbox_dicom_header;

typedef struct lightbox_dicom lightbox_dicom;

/// Parses `data` (a whole file, or with `header_only` as much as reaches the Pixel Data element)
/// and fills `header`. `data` is copied where needed: it may be freed after this returns. On
/// success `*file` must be released with lightbox_dicom_close; on failure it is NULL and
/// `error` holds the message.
lightbox_dicom_status lightbox_dicom_open(const uint8_t *data, size_t size, int header_only, lightbox_dicom **file,
                                          lightbox_dicom_header *header, char *error, size_t error_size);

/// Copies the LUT data of the first VOI LUT (`which` 1) or Modality LUT (`which` 0) item,
/// `count` entries (as many as the header's descriptor says), each widened to 32 bits.
lightbox_dicom_status lightbox_dicom_lut(const lightbox_dicom *file, int which, uint32_t *out, size_t count,
                                         char *error, size_t error_size);

/// Decodes the first frame into `buffer`, which holds `header.frame_bytes` bytes: samples of
/// bits_allocated bits as stored (the caller takes BitsStored at HighBit and the sign), little
/// endian. Refuses native pixel data shorter than frames x frame_bytes. `photometric` and
/// `planar_configuration` receive the layout of what was written: JPEG and JPEG 2000 colour
/// come out RGB and interleaved whatever the file stored.
lightbox_dicom_status lightbox_dicom_decode_first_frame(lightbox_dicom *file, void *buffer, size_t buffer_size,
                                                        char photometric[32], int32_t *planar_configuration,
                                                        char *error, size_t error_size);

void lightbox_dicom_close(lightbox_dicom *file);

// De-identification (how the Studio stores uploaded files).

/// Rewrites a whole file opened with lightbox_dicom_open (header_only 0) without what identifies
/// its patient: PS3.15 Annex E's Basic Application Level Confidentiality Profile, done as a
/// keep-list. Kept: the image pixel group (0028), the pixel data (7FE0), SOP Class, Modality,
/// Image Type, Specific Character Set, Instance Number, Patient Orientation and Presentation
/// LUT Shape; Study, Series, SOP Instance and Frame of Reference UIDs become 2.25 UIDs derived
/// from HMAC-SHA256(uid_key, UID); PatientID becomes `patient_id` (empty: none); the Type 2
/// patient and study attributes are empty; PatientIdentityRemoved YES and the method are
/// recorded. Everything else goes: names, dates, times, addresses, other ids, institution,
/// physicians, accession number, descriptions, overlays, private tags (also inside kept
/// sequences), and the old file meta. The pixel data and transfer syntax stay as they were
/// (a deflated data set is written explicit VR little endian). On success `*out` (`*out_size`
/// bytes, a DICOM file with preamble) must be released with lightbox_dicom_free. `file` is
/// changed: close it afterwards.
lightbox_dicom_status lightbox_dicom_deidentify(lightbox_dicom *file, const char *patient_id, const uint8_t *uid_key,
                                                size_t uid_key_size, uint8_t **out, size_t *out_size, char *error,
                                                size_t error_size);

void lightbox_dicom_free(uint8_t *buffer);

#ifdef __cplusplus
}
#endif
#endif
