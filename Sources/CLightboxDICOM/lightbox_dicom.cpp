// DICOM parsing and first-frame decoding behind lightbox_dicom.h: DCMTK for the data set and
// its codecs (JPEG, JPEG-LS, RLE, deflate), OpenJPEG for JPEG 2000, which DCMTK's free edition
// lacks. Every entry point catches every C++ exception; DCMTK's logger is silenced.
#include "lightbox_dicom.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <openjpeg-2.5/openjpeg.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

struct lightbox_dicom {
    DcmFileFormat file;
    bool headerOnly = false;
    lightbox_dicom_header header{};
};

namespace {

// Transfer syntaxes decoded here (issue 14's list), by UID.
const char *const supportedSyntaxes[] = {
    "1.2.840.10008.1.2",         // implicit VR little endian
    "1.2.840.10008.1.2.1",       // explicit VR little endian
    "1.2.840.10008.1.2.1.99",    // deflated explicit VR little endian
    "1.2.840.10008.1.2.5",       // RLE lossless
    "1.2.840.10008.1.2.4.50",    // JPEG baseline (process 1)
    "1.2.840.10008.1.2.4.51",    // JPEG extended (processes 2 and 4)
    "1.2.840.10008.1.2.4.57",    // JPEG lossless (process 14)
    "1.2.840.10008.1.2.4.70",    // JPEG lossless (process 14, selection value 1)
    "1.2.840.10008.1.2.4.80",    // JPEG-LS lossless
    "1.2.840.10008.1.2.4.81",    // JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.90",    // JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",    // JPEG 2000
};

bool isJPEG2000(const char *uid) {
    return strcmp(uid, "1.2.840.10008.1.2.4.90") == 0 || strcmp(uid, "1.2.840.10008.1.2.4.91") == 0;
}

// Registers the decoders and silences the logger once per process.
void setUp() {
    static std::once_flag once;
    std::call_once(once, [] {
        OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();   // YCbCr JPEG comes out RGB
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

lightbox_dicom_status fail(lightbox_dicom_status status, char *error, size_t size, const std::string &message) {
    if (error && size) snprintf(error, size, "%s", message.c_str());
    return status;
}

void copyString(char *dst, size_t size, const OFString &src) {
    snprintf(dst, size, "%s", src.c_str());
}

// An element's value as a trimmed string (first value), or "" when absent.
OFString text(DcmItem *item, const DcmTagKey &tag) {
    OFString value;
    if (item->findAndGetOFString(tag, value).bad()) return "";
    size_t end = value.find_last_not_of(' ');
    return end == OFString_npos ? OFString() : value.substr(0, end + 1);
}

int32_t number(DcmItem *item, const DcmTagKey &tag, int32_t fallback) {
    Uint16 v = 0;
    return item->findAndGetUint16(tag, v).good() ? int32_t(v) : fallback;
}

// A LUT item's descriptor: entries (0 means 65536), first mapped value (signed when the pixels
// are), bits per entry. False when the item has no usable descriptor.
bool descriptor(DcmItem *item, bool signedPixels, int32_t &entries, int32_t &first, int32_t &bits) {
    Uint16 v[3];
    for (unsigned long i = 0; i < 3; i++)
        if (item->findAndGetUint16(DCM_LUTDescriptor, v[i], i).bad()) return false;
    entries = v[0] == 0 ? 65536 : v[0];
    first = signedPixels ? int32_t(int16_t(v[1])) : int32_t(v[1]);
    bits = v[2];
    return true;
}

void fillHeader(DcmFileFormat &file, lightbox_dicom_header &h) {
    DcmDataset *ds = file.getDataset();
    memset(&h, 0, sizeof h);
    h.rows = number(ds, DCM_Rows, 0);
    h.columns = number(ds, DCM_Columns, 0);
    Sint32 frames = 1;
    h.frames = ds->findAndGetSint32(DCM_NumberOfFrames, frames).good() ? frames : 1;
    h.samples_per_pixel = number(ds, DCM_SamplesPerPixel, 1);
    h.bits_allocated = number(ds, DCM_BitsAllocated, 0);
    h.bits_stored = number(ds, DCM_BitsStored, h.bits_allocated);
    h.high_bit = number(ds, DCM_HighBit, h.bits_stored - 1);
    h.pixel_representation = number(ds, DCM_PixelRepresentation, 0);
    h.planar_configuration = number(ds, DCM_PlanarConfiguration, 0);
    OFString pi = text(ds, DCM_PhotometricInterpretation);
    copyString(h.photometric, sizeof h.photometric, pi.empty() ? OFString("MONOCHROME2") : pi);

    Float64 f = 0;
    h.rescale_slope = ds->findAndGetFloat64(DCM_RescaleSlope, f).good() ? f : 1;
    h.rescale_intercept = ds->findAndGetFloat64(DCM_RescaleIntercept, f).good() ? f : 0;
    Float64 centre = 0, width = 0;
    h.has_window = ds->findAndGetFloat64(DCM_WindowCenter, centre, 0).good() &&
                   ds->findAndGetFloat64(DCM_WindowWidth, width, 0).good();
    h.window_center = centre;
    h.window_width = width;
    OFString function = text(ds, DCM_VOILUTFunction);
    copyString(h.voi_lut_function, sizeof h.voi_lut_function, function.empty() ? OFString("LINEAR") : function);

    bool signedPixels = h.pixel_representation == 1;
    DcmItem *item = nullptr;
    if (ds->findAndGetSequenceItem(DCM_VOILUTSequence, item, 0).good() && item)
        h.has_voi_lut = descriptor(item, signedPixels, h.voi_lut_entries, h.voi_lut_first_mapped, h.voi_lut_bits);
    item = nullptr;
    if (ds->findAndGetSequenceItem(DCM_ModalityLUTSequence, item, 0).good() && item)
        h.has_modality_lut = descriptor(item, signedPixels, h.modality_lut_entries, h.modality_lut_first_mapped,
                                        h.modality_lut_bits);

    OFString uid = text(file.getMetaInfo(), DCM_TransferSyntaxUID);
    if (uid.empty()) uid = DcmXfer(ds->getOriginalXfer()).getXferID();
    copyString(h.transfer_syntax, sizeof h.transfer_syntax, uid);
    DcmXfer xfer(uid.c_str());
    copyString(h.transfer_syntax_name, sizeof h.transfer_syntax_name,
               xfer.getXfer() == EXS_Unknown ? OFString("unknown") : OFString(xfer.getXferName()));
    h.transfer_syntax_supported = std::any_of(std::begin(supportedSyntaxes), std::end(supportedSyntaxes),
                                              [&](const char *s) { return uid == s; });

    copyString(h.patient_id, sizeof h.patient_id, text(ds, DCM_PatientID));
    copyString(h.sop_instance_uid, sizeof h.sop_instance_uid, text(ds, DCM_SOPInstanceUID));
    copyString(h.study_instance_uid, sizeof h.study_instance_uid, text(ds, DCM_StudyInstanceUID));
    h.frame_bytes = uint64_t(h.rows) * uint64_t(h.columns) * uint64_t(std::max(h.samples_per_pixel, 0)) *
                    uint64_t(std::max(h.bits_allocated, 0) / 8);
}

// A read's outcome: running out of bytes mid-element (or a deflate stream cut short) is a cut
// file; anything else is damage.
lightbox_dicom_status readStatus(const OFCondition &status, DcmInputBufferStream &input, bool streamCut,
                                 char *error, size_t error_size) {
    if (status.good()) return LIGHTBOX_DICOM_OK;
    bool cut = status == EC_StreamNotifyClient || (status == EC_InvalidStream && input.eos()) || streamCut;
    return fail(cut ? LIGHTBOX_DICOM_TRUNCATED : LIGHTBOX_DICOM_CORRUPT, error, error_size,
                cut ? std::string("the data set ends early (") + status.text() + ")" : std::string(status.text()));
}

// --- Deflated explicit VR little endian (PS3.5 A.5), inflated within what the header needs ---
//
// Everything after the meta header is one deflate stream. DCMTK inflates all of it while
// reading, however large: 250 KB of zeros declare 256 MiB. So Lightbox inflates it here, first
// at most `deflatedHeaderLimit` bytes, enough to reach the Pixel Data element; then, knowing the
// frames' size from that header, at most that size plus `deflatedTrailingLimit`; a stream that
// goes on is refused as soon as its output passes the bound.

constexpr size_t deflatedHeaderLimit = size_t(4) << 20;    // the elements before Pixel Data
constexpr size_t deflatedTrailingLimit = size_t(1) << 20;  // elements after it (signatures, padding)
constexpr uint64_t deflatedPixelLimit = uint64_t(1) << 30; // every frame of a multi-frame file

const char *const deflatedSyntax = "1.2.840.10008.1.2.1.99";

// Where the data set starts: after the preamble, "DICM" and the group 0002 elements (always
// explicit VR little endian). 0 when the meta header is not there or runs past the end.
size_t dataSetOffset(const uint8_t *data, size_t size) {
    size_t at = 132;
    if (size < at || memcmp(data + 128, "DICM", 4) != 0) return 0;
    while (at + 8 <= size && (data[at] | data[at + 1] << 8) == 0x0002) {
        char vr[3] = {char(data[at + 4]), char(data[at + 5]), 0};
        bool longForm = strstr("OB OW OF OD OL OV SQ UT UN UC UR SV UV", vr) != nullptr;
        uint64_t length = longForm ? (at + 12 <= size ? uint64_t(data[at + 8]) | uint64_t(data[at + 9]) << 8 |
                                                            uint64_t(data[at + 10]) << 16 | uint64_t(data[at + 11]) << 24
                                                      : UINT64_MAX)
                                   : uint64_t(data[at + 6] | data[at + 7] << 8);
        uint64_t next = uint64_t(at) + (longForm ? 12 : 8) + length;
        if (length == UINT64_MAX || next > size) return 0;
        at = size_t(next);
    }
    return at;
}

// The meta header's Transfer Syntax UID, read by DCMTK from the bytes before the data set.
bool isDeflated(const uint8_t *data, size_t offset) {
    DcmMetaInfo meta;
    DcmInputBufferStream input;
    input.setBuffer(data, offile_off_t(offset));
    input.setEos();
    meta.transferInit();
    OFCondition status = meta.read(input, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    meta.transferEnd();
    return status.good() && text(&meta, DCM_TransferSyntaxUID) == deflatedSyntax;
}

// A deflate stream being inflated into `out` a bounded piece at a time. Raw deflate as the
// standard says, or with a zlib header, which some writers add and DCMTK accepts too.
struct Inflater {
    z_stream z{};
    bool ready = false, ended = false, broken = false;
    std::vector<Uint8> out;

    Inflater(const uint8_t *data, size_t size) {
        bool zlibHeader = size >= 2 && (data[0] & 0x0F) == 8 && ((data[0] << 8) | data[1]) % 31 == 0;
        z.next_in = const_cast<Bytef *>(data);
        z.avail_in = uInt(std::min<size_t>(size, UINT32_MAX));
        ready = inflateInit2(&z, zlibHeader ? 15 : -15) == Z_OK;
        broken = !ready;
    }
    ~Inflater() { if (ready) inflateEnd(&z); }

    // Inflates until the stream ends, breaks, runs out of input, or `out` holds more than `limit`.
    void run(size_t limit) {
        while (!ended && !broken && out.size() <= limit) {
            size_t have = out.size(), step = std::min<size_t>(limit + 1 - have, size_t(1) << 20);
            out.resize(have + step);
            z.next_out = out.data() + have;
            z.avail_out = uInt(step);
            int status = inflate(&z, Z_NO_FLUSH);
            out.resize(have + step - z.avail_out);
            if (status == Z_STREAM_END) ended = true;
            else if (status == Z_BUF_ERROR && z.avail_in == 0) break;   // cut short: DCMTK says where
            else if (status != Z_OK && status != Z_BUF_ERROR) broken = true;
        }
    }
    bool overLimit(size_t limit) const { return out.size() > limit; }
};

// Reads the data set of a deflated file from its inflated bytes into `file` (its meta header from
// the file's own bytes). `error` names the bound a bomb passes.
lightbox_dicom_status readDeflated(lightbox_dicom &file, const uint8_t *data, size_t size, size_t offset,
                                   char *error, size_t error_size) {
    auto readPart = [](DcmObject &object, const Uint8 *bytes, size_t count, E_TransferSyntax xfer, bool untilPixels) {
        DcmInputBufferStream input;
        input.setBuffer(bytes, offile_off_t(count));
        input.setEos();
        object.transferInit();
        OFCondition status = untilPixels
            ? static_cast<DcmDataset &>(object).readUntilTag(input, xfer, EGL_noChange, DCM_MaxReadLength, DCM_PixelData)
            : object.read(input, xfer, EGL_noChange, DCM_MaxReadLength);
        object.transferEnd();
        return status;
    };
    OFCondition status = readPart(*file.file.getMetaInfo(), data, offset, EXS_Unknown, false);
    if (status.bad()) return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, std::string("meta header: ") + status.text());

    Inflater inflater(data + offset, size - offset);
    inflater.run(deflatedHeaderLimit);
    if (inflater.broken) return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "the deflated data set is not a valid deflate stream");
    DcmDataset *ds = file.file.getDataset();
    status = readPart(*ds, inflater.out.data(), inflater.out.size(), EXS_LittleEndianExplicit, true);
    if (status.bad() && inflater.overLimit(deflatedHeaderLimit)) {
        char text[200];
        snprintf(text, sizeof text, "the deflated data set inflates to more than %zu MiB before its pixel data; refused as a deflate bomb",
                 deflatedHeaderLimit >> 20);
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, text);
    }
    if (file.headerOnly && status.good()) return LIGHTBOX_DICOM_OK;
    if (status.good() && !inflater.ended) {
        // The frames' size from the header read so far bounds the rest of the stream.
        Sint32 frames = 1;
        if (ds->findAndGetSint32(DCM_NumberOfFrames, frames).bad() || frames < 1) frames = 1;
        auto value = [&](const DcmTagKey &tag, int32_t fallback) { return uint64_t(std::max(number(ds, tag, fallback), 0)); };
        uint64_t frameBytes = value(DCM_Rows, 0) * value(DCM_Columns, 0) * value(DCM_SamplesPerPixel, 1) * (value(DCM_BitsAllocated, 0) / 8);
        uint64_t pixels = frameBytes * uint64_t(frames);
        if (pixels > deflatedPixelLimit) {
            char text[200];
            snprintf(text, sizeof text, "%d frame(s) of %llu bytes would inflate past %llu MiB, the most Lightbox inflates",
                     int(frames), (unsigned long long)frameBytes, (unsigned long long)(deflatedPixelLimit >> 20));
            return fail(LIGHTBOX_DICOM_UNSUPPORTED, error, error_size, text);
        }
        size_t limit = deflatedHeaderLimit + size_t(pixels) + deflatedTrailingLimit;
        inflater.run(limit);
        if (inflater.broken) return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "the deflated data set is not a valid deflate stream");
        if (inflater.overLimit(limit)) {
            char text[240];
            snprintf(text, sizeof text, "the deflated data set inflates to more than %zu MiB, far more than its %d frame(s) of %llu bytes need; refused as a deflate bomb",
                     limit >> 20, int(frames), (unsigned long long)frameBytes);
            return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, text);
        }
    }
    // The whole data set as far as it goes (a broken or cut one fails here, with DCMTK's reason).
    ds->clear();
    DcmInputBufferStream input;
    input.setBuffer(inflater.out.data(), offile_off_t(inflater.out.size()));
    input.setEos();
    ds->transferInit();
    status = ds->read(input, EXS_LittleEndianExplicit, EGL_noChange, DCM_MaxReadLength);
    ds->transferEnd();
    return readStatus(status, input, !inflater.ended, error, error_size);
}

// --- JPEG 2000 through OpenJPEG ---

struct MemorySource { const Uint8 *data; size_t size, pos; };

OPJ_SIZE_T readSource(void *buffer, OPJ_SIZE_T n, void *user) {
    auto *s = static_cast<MemorySource *>(user);
    if (s->pos >= s->size) return OPJ_SIZE_T(-1);
    n = std::min(n, s->size - s->pos);
    memcpy(buffer, s->data + s->pos, n);
    s->pos += n;
    return n;
}
OPJ_OFF_T skipSource(OPJ_OFF_T n, void *user) {
    auto *s = static_cast<MemorySource *>(user);
    if (n < 0 || s->pos + size_t(n) > s->size) { s->pos = s->size; return -1; }
    s->pos += size_t(n);
    return n;
}
OPJ_BOOL seekSource(OPJ_OFF_T n, void *user) {
    auto *s = static_cast<MemorySource *>(user);
    if (n < 0 || size_t(n) > s->size) return OPJ_FALSE;
    s->pos = size_t(n);
    return OPJ_TRUE;
}
void keepFirstError(const char *message, void *user) {
    auto *e = static_cast<std::string *>(user);
    if (e->empty()) {
        *e = message;
        while (!e->empty() && (e->back() == '\n' || e->back() == ' ')) e->pop_back();
    }
}
void ignoreMessage(const char *, void *) {}

// The first frame's fragments, joined up to the one that ends the codestream (EOC, FF D9).
lightbox_dicom_status firstFrameStream(DcmDataset *ds, DcmPixelData *pixels, std::vector<Uint8> &stream,
                                       char *error, size_t size) {
    DcmPixelSequence *sequence = nullptr;
    if (pixels->getEncapsulatedRepresentation(ds->getOriginalXfer(), nullptr, sequence).bad() || !sequence)
        return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "pixel data is not encapsulated as its transfer syntax requires");
    for (unsigned long i = 1; i < sequence->card(); i++) {   // item 0: the offset table
        DcmPixelItem *item = nullptr;
        Uint8 *bytes = nullptr;
        if (sequence->getItem(item, i).bad() || !item || item->getUint8Array(bytes).bad()) break;
        if (bytes) stream.insert(stream.end(), bytes, bytes + item->getLength());
        size_t end = stream.size();
        while (end > 0 && stream[end - 1] == 0) end--;   // fragments are padded to even lengths
        if (end >= 2 && stream[end - 2] == 0xFF && stream[end - 1] == 0xD9) break;
    }
    if (stream.empty()) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "no pixel data fragments");
    return LIGHTBOX_DICOM_OK;
}

// --- JPEG and JPEG-LS: the codestream must be the picture the header describes ---
//
// DCMTK's decoders size their work from the codestream's own frame header, not the DICOM
// header, and IJG goes over every block once per scan: a few kilobytes declaring a larger frame,
// or repeating a small progressive scan hundreds of times, cost minutes. So the first frame's
// codestream is walked first: one frame header (SOFn, or SOF55 for JPEG-LS) that matches Rows,
// Columns, SamplesPerPixel and BitsAllocated, and at most `maxJPEGScans` scans.

constexpr int maxJPEGScans = 64;   // sequential DICOM JPEG has one scan per component at most

// SOFn: C0-CF but DHT (C4), JPG (C8) and DAC (CC).
bool isFrameHeader(uint8_t marker) {
    return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

bool isJPEGFamily(const char *uid) {
    static const char *const uids[] = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                                       "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"};
    return std::any_of(std::begin(uids), std::end(uids), [&](const char *u) { return strcmp(uid, u) == 0; });
}

// Whether DCMTK 3.6.7's DJCodecDecoder::scanJpegDataForBitDepth would loop for ever on `d`: it
// walks marker segments from the start until a frame header, and on a TEM marker (FF 01) it
// does not move on (found by FuzzImageDecoder). This walks the bytes exactly as it does.
bool dcmtkBitDepthScanHangs(const std::vector<Uint8> &d) {
    size_t at = 0, n = d.size();
    auto length = [&] { return size_t(d[at + 2]) << 8 | d[at + 3]; };
    while (at + 4 < n) {
        if (d[at] != 0xFF) return false;                       // DCMTK stops: not a marker
        uint8_t m = d[at + 1];
        if (m == 0x01) return true;                            // TEM: DCMTK stays here
        if (isFrameHeader(m)) return false;                    // SOFn: found
        if (m == 0xFF) at += 1;                                // fill byte
        else if ((m >= 0xD0 && m <= 0xD9) || (m > 0x02 && m <= 0xBF)) at += 2;   // RSTn, SOI, EOI, reserved
        else if (m == 0xC4 || m == 0xCC || m >= 0xDA) at += length() + 2;       // DHT, DAC, SOS... COM
        else return false;                                     // DCMTK stops: an invalid marker
    }
    return false;
}

// Empty when the codestream fits the header; otherwise why not.
std::string jpegMismatch(const std::vector<Uint8> &d, const lightbox_dicom_header &h) {
    size_t n = d.size(), i = 2;
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return "the JPEG codestream does not start with SOI";
    int frames = 0, scans = 0;
    while (i + 1 < n) {
        if (d[i] != 0xFF) { i++; continue; }                  // entropy-coded data, or fill
        uint8_t marker = d[i + 1];
        if (marker == 0xFF) { i++; continue; }                // fill bytes before a marker
        // Stuffing (FF 00; in JPEG-LS any FF then a byte below 80), TEM and reserved codes, RSTn.
        if (marker < 0xC0 || (marker >= 0xD0 && marker <= 0xD7)) { i += 2; continue; }
        if (marker == 0xD9) break;                            // EOI
        if (i + 4 > n) return "the JPEG codestream ends inside a marker";
        size_t length = size_t(d[i + 2]) << 8 | d[i + 3];
        if (length < 2 || i + 2 + length > n) return "a JPEG marker segment runs past the codestream";
        bool sof = isFrameHeader(marker) || marker == 0xF7;   // F7: JPEG-LS's SOF55
        if (sof) {
            if (++frames > 1) return "the JPEG codestream holds more than one frame header";
            if (length < 8) return "a JPEG frame header is too short";
            int precision = d[i + 4], rows = d[i + 5] << 8 | d[i + 6], columns = d[i + 7] << 8 | d[i + 8], components = d[i + 9];
            if (rows != h.rows || columns != h.columns || components != h.samples_per_pixel || precision > h.bits_allocated) {
                char text[200];
                snprintf(text, sizeof text, "the JPEG codestream is %dx%d with %d component(s) of %d bits, the header says %dx%d with %d of %d",
                         columns, rows, components, precision, h.columns, h.rows, h.samples_per_pixel, h.bits_allocated);
                return text;
            }
        }
        if (marker == 0xDA && ++scans > maxJPEGScans) {
            char text[120];
            snprintf(text, sizeof text, "the JPEG codestream has more than %d scans", maxJPEGScans);
            return text;
        }
        i += 2 + length;
    }
    if (frames == 0) return "the JPEG codestream has no frame header";
    return "";
}

lightbox_dicom_status decodeJPEG2000(lightbox_dicom *file, void *buffer, char photometric[32], int32_t *planar,
                                     char *error, size_t size) {
    const lightbox_dicom_header &h = file->header;
    DcmDataset *ds = file->file.getDataset();
    DcmElement *element = nullptr;
    ds->findAndGetElement(DCM_PixelData, element);
    std::vector<Uint8> stream;
    lightbox_dicom_status status = firstFrameStream(ds, static_cast<DcmPixelData *>(element), stream, error, size);
    if (status != LIGHTBOX_DICOM_OK) return status;

    MemorySource source{stream.data(), stream.size(), 0};
    bool jp2 = stream.size() > 12 && memcmp(stream.data() + 4, "jP  ", 4) == 0;   // a JP2 box around it
    std::unique_ptr<opj_codec_t, void (*)(opj_codec_t *)> codec(opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K),
                                                               opj_destroy_codec);
    std::string message;
    opj_set_error_handler(codec.get(), keepFirstError, &message);
    opj_set_warning_handler(codec.get(), ignoreMessage, nullptr);
    opj_set_info_handler(codec.get(), ignoreMessage, nullptr);
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    opj_setup_decoder(codec.get(), &parameters);   // one thread: Lightbox decodes several files at once
    std::unique_ptr<opj_stream_t, void (*)(opj_stream_t *)> input(opj_stream_create(1 << 16, OPJ_TRUE), opj_stream_destroy);
    opj_stream_set_user_data(input.get(), &source, nullptr);
    opj_stream_set_user_data_length(input.get(), source.size);
    opj_stream_set_read_function(input.get(), readSource);
    opj_stream_set_skip_function(input.get(), skipSource);
    opj_stream_set_seek_function(input.get(), seekSource);

    opj_image_t *raw = nullptr;
    bool ok = opj_read_header(input.get(), codec.get(), &raw);
    std::unique_ptr<opj_image_t, void (*)(opj_image_t *)> image(raw, opj_image_destroy);
    if (ok) {
        // Refuse a codestream whose size disagrees with the header before decoding it.
        bool fits = image->numcomps == OPJ_UINT32(h.samples_per_pixel);
        for (OPJ_UINT32 c = 0; fits && c < image->numcomps; c++)
            fits = image->comps[c].dx == 1 && image->comps[c].dy == 1 && image->x1 - image->x0 == OPJ_UINT32(h.columns) &&
                   image->y1 - image->y0 == OPJ_UINT32(h.rows) && image->comps[c].prec <= OPJ_UINT32(h.bits_allocated);
        if (!fits) {
            char text[160];
            snprintf(text, sizeof text, "JPEG 2000 codestream is %ux%u with %u components, the header says %dx%d with %d",
                     image->x1 - image->x0, image->y1 - image->y0, image->numcomps, h.columns, h.rows, h.samples_per_pixel);
            return fail(LIGHTBOX_DICOM_CORRUPT, error, size, text);
        }
        ok = opj_decode(codec.get(), input.get(), image.get()) && opj_end_decompress(codec.get(), input.get());
    }
    if (!ok) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "JPEG 2000: " + (message.empty() ? std::string("cannot decode the codestream") : message));

    size_t count = size_t(h.rows) * size_t(h.columns), components = image->numcomps;
    for (size_t c = 0; c < components; c++) {
        const OPJ_INT32 *data = image->comps[c].data;
        if (!data) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "JPEG 2000: a component has no samples");
        for (size_t i = 0; i < count; i++) {
            OPJ_INT32 v = data[i];
            size_t at = i * components + c;
            if (h.bits_allocated == 8) static_cast<uint8_t *>(buffer)[at] = uint8_t(v);
            else if (h.bits_allocated == 16) static_cast<uint16_t *>(buffer)[at] = uint16_t(v);
            else static_cast<uint32_t *>(buffer)[at] = uint32_t(v);
        }
    }
    // OpenJPEG undoes the multiple-component transform: YBR_RCT and YBR_ICT come out RGB.
    bool transformed = strcmp(h.photometric, "YBR_RCT") == 0 || strcmp(h.photometric, "YBR_ICT") == 0;
    snprintf(photometric, 32, "%s", transformed ? "RGB" : h.photometric);
    *planar = 0;
    return LIGHTBOX_DICOM_OK;
}

lightbox_dicom_status decode(lightbox_dicom *file, void *buffer, size_t bufferSize, char photometric[32], int32_t *planar,
                             char *error, size_t size) {
    const lightbox_dicom_header &h = file->header;
    if (file->headerOnly) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "opened for the header only");
    if (!h.transfer_syntax_supported)
        return fail(LIGHTBOX_DICOM_UNSUPPORTED, error, size,
                    std::string("unsupported transfer syntax ") + h.transfer_syntax + " (" + h.transfer_syntax_name + ")");
    if (h.rows <= 0 || h.columns <= 0 || h.frame_bytes == 0 || bufferSize < h.frame_bytes)
        return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "the buffer does not fit the header's frame");
    DcmDataset *ds = file->file.getDataset();
    DcmElement *element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || !element)
        return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "no Pixel Data element");
    if (isJPEG2000(h.transfer_syntax)) return decodeJPEG2000(file, buffer, photometric, planar, error, size);

    auto *pixels = static_cast<DcmPixelData *>(element);
    if (isJPEGFamily(h.transfer_syntax)) {
        std::vector<Uint8> stream;
        lightbox_dicom_status status = firstFrameStream(ds, pixels, stream, error, size);
        if (status != LIGHTBOX_DICOM_OK) return status;
        std::string why = dcmtkBitDepthScanHangs(stream) ? "the JPEG codestream has a TEM marker (FF 01) among its marker segments"
                                                         : jpegMismatch(stream, h);
        if (!why.empty()) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, why);
    }
    if (!DcmXfer(ds->getOriginalXfer()).isEncapsulated()) {
        uint64_t needed = h.frame_bytes * uint64_t(std::max(h.frames, 1));
        uint64_t held = element->getLength();
        if (held < needed) {
            char text[200];
            snprintf(text, sizeof text, "pixel data holds %llu bytes, the header needs %llu (%d frame(s) of %dx%d, %d sample(s) of %d bits)",
                     (unsigned long long)held, (unsigned long long)needed, std::max(h.frames, 1), h.columns, h.rows,
                     h.samples_per_pixel, h.bits_allocated);
            return fail(LIGHTBOX_DICOM_CORRUPT, error, size, text);
        }
    }
    Uint32 frameSize = 0;
    OFCondition status = pixels->getUncompressedFrameSize(ds, frameSize);
    if (status.bad()) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, status.text());
    if (frameSize != h.frame_bytes) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "the frame size disagrees with the header");
    // DCMTK wants an even buffer; an odd frame (8-bit, odd sample count) goes through a copy.
    std::vector<Uint8> evenCopy;
    Uint8 *target = static_cast<Uint8 *>(buffer);
    if (frameSize % 2) { evenCopy.resize(frameSize + 1); target = evenCopy.data(); }
    Uint32 startFragment = 0;
    OFString model;
    status = pixels->getUncompressedFrame(ds, 0, startFragment, target, frameSize + (frameSize % 2), model, nullptr);
    if (status.bad()) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, status.text());
    if (!evenCopy.empty()) memcpy(buffer, evenCopy.data(), frameSize);
    snprintf(photometric, 32, "%s", model.empty() ? h.photometric : model.c_str());
    // The decoders record the layout they produced (RLE: planar) in the data set.
    *planar = number(ds, DCM_PlanarConfiguration, 0);
    return LIGHTBOX_DICOM_OK;
}

// Reads a file in any other transfer syntax: DCMTK decides from the meta header.
lightbox_dicom_status readWhole(lightbox_dicom &file, const uint8_t *data, size_t size, char *error, size_t error_size) {
    DcmInputBufferStream input;
    input.setBuffer(data, offile_off_t(size));
    input.setEos();
    file.file.transferInit();
    OFCondition status = file.headerOnly
        ? file.file.readUntilTag(input, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData)
        : file.file.read(input, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.file.transferEnd();
    return readStatus(status, input, false, error, error_size);
}

}  // namespace

extern "C" lightbox_dicom_status lightbox_dicom_open(const uint8_t *data, size_t size, int header_only, lightbox_dicom **out,
                                                     lightbox_dicom_header *header, char *error, size_t error_size) {
    *out = nullptr;
    try {
        setUp();
        if (!dcmDataDict.isDictionaryLoaded())
            return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "DCMTK's data dictionary is not loaded (libdcmtk17's dicom.dic)");
        std::unique_ptr<lightbox_dicom> file(new lightbox_dicom);
        file->headerOnly = header_only != 0;
        size_t dataSet = dataSetOffset(data, size);
        lightbox_dicom_status status = dataSet && isDeflated(data, dataSet)
            ? readDeflated(*file, data, size, dataSet, error, error_size)
            : readWhole(*file, data, size, error, error_size);
        if (status != LIGHTBOX_DICOM_OK) return status;
        fillHeader(file->file, file->header);
        *header = file->header;
        *out = file.release();
        return LIGHTBOX_DICOM_OK;
    } catch (const std::bad_alloc &) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "out of memory while reading the data set");
    } catch (const std::exception &e) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, e.what());
    } catch (...) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "DICOM parser failed");
    }
}

extern "C" lightbox_dicom_status lightbox_dicom_lut(const lightbox_dicom *file, int which, uint32_t *out, size_t count,
                                                    char *error, size_t error_size) {
    try {
        DcmDataset *ds = const_cast<DcmFileFormat &>(file->file).getDataset();
        DcmItem *item = nullptr;
        const DcmTagKey &sequence = which == 1 ? DCM_VOILUTSequence : DCM_ModalityLUTSequence;
        const char *name = which == 1 ? "VOI LUT" : "Modality LUT";
        if (ds->findAndGetSequenceItem(sequence, item, 0).bad() || !item)
            return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, std::string("no ") + name + " Sequence item");
        const Uint16 *words = nullptr;
        unsigned long n = 0;
        if (item->findAndGetUint16Array(DCM_LUTData, words, &n).bad() || !words)
            return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, std::string(name) + " has no LUT Data");
        if (n >= count) {
            for (size_t i = 0; i < count; i++) out[i] = words[i];
        } else if ((n * 2 == count || n * 2 == count + 1) && (which == 1 ? file->header.voi_lut_bits : file->header.modality_lut_bits) <= 8) {
            // 8-bit entries packed two to a word (seen in the field): low byte first.
            for (size_t i = 0; i < count; i++) out[i] = (words[i / 2] >> (8 * (i % 2))) & 0xFF;
        } else {
            char text[160];
            snprintf(text, sizeof text, "%s has %lu entries, its descriptor says %zu", name, n, count);
            return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, text);
        }
        return LIGHTBOX_DICOM_OK;
    } catch (const std::exception &e) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, e.what());
    } catch (...) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "cannot read the LUT");
    }
}

extern "C" lightbox_dicom_status lightbox_dicom_decode_first_frame(lightbox_dicom *file, void *buffer, size_t buffer_size,
                                                                   char photometric[32], int32_t *planar_configuration,
                                                                   char *error, size_t error_size) {
    try {
        return decode(file, buffer, buffer_size, photometric, planar_configuration, error, error_size);
    } catch (const std::bad_alloc &) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "out of memory while decoding the pixel data");
    } catch (const std::exception &e) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, e.what());
    } catch (...) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "pixel data decoder failed");
    }
}

extern "C" void lightbox_dicom_close(lightbox_dicom *file) {
    delete file;
}

// De-identification (lightbox_dicom_deidentify): PS3.15 Annex E's basic profile as a keep-list.

#include <dcmtk/dcmdata/dcostrmb.h>
#include <openssl/evp.h>
#include <cstdlib>
#include <openssl/hmac.h>

namespace {

// Outside the pixel group (0028) and pixel data (7FE0), what a stored file keeps.
const DcmTagKey keptTags[] = {
    DCM_SpecificCharacterSet, DCM_ImageType, DCM_SOPClassUID, DCM_SOPInstanceUID, DCM_Modality,
    DCM_PatientID, DCM_StudyInstanceUID, DCM_SeriesInstanceUID, DCM_InstanceNumber, DCM_PatientOrientation,
    DCM_FrameOfReferenceUID, DCM_PresentationLUTShape,
};

// UIDs that tie the file to the hospital's records: replaced, consistently within one key.
const DcmTagKey replacedUIDs[] = {DCM_SOPInstanceUID, DCM_StudyInstanceUID, DCM_SeriesInstanceUID, DCM_FrameOfReferenceUID};

// Type 2 attributes of the patient and study modules: present, empty (Annex E's "Z").
const DcmTagKey emptiedTags[] = {
    DCM_PatientName, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate, DCM_StudyTime,
    DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber,
};

bool kept(const DcmTagKey &tag) {
    if (tag.isPrivate() || tag.getElement() == 0) return false;   // private tags and group lengths go
    if (tag.getGroup() == 0x0028 || tag.getGroup() == 0x7FE0) return true;
    return std::any_of(std::begin(keptTags), std::end(keptTags), [&](const DcmTagKey &k) { return k == tag; });
}

// Removes private elements of `item` and of every item of its sequences.
void removePrivate(DcmItem *item) {
    for (unsigned long i = item->card(); i-- > 0;) {
        DcmElement *element = item->getElement(i);
        if (element->getTag().isPrivate()) {
            delete item->remove(i);
        } else if (element->ident() == EVR_SQ) {
            auto *sequence = static_cast<DcmSequenceOfItems *>(element);
            for (unsigned long j = 0; j < sequence->card(); j++) removePrivate(sequence->getItem(j));
        }
    }
}

// "2.25." and the first 128 bits of HMAC-SHA256(key, uid) in decimal: the same UID for the same
// key and original, nothing that leads back to it without the key.
OFString derivedUID(const uint8_t *key, size_t keySize, const OFString &uid) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key, int(keySize), reinterpret_cast<const unsigned char *>(uid.c_str()), uid.size(), digest,
              &length) || length < 16)
        return "";
    unsigned __int128 value = 0;
    for (int i = 0; i < 16; i++) value = (value << 8) | digest[i];
    std::string digits;
    do {
        digits.insert(digits.begin(), char('0' + int(value % 10)));
        value /= 10;
    } while (value != 0);
    return OFString(("2.25." + digits).c_str());
}

lightbox_dicom_status deidentify(lightbox_dicom *file, const char *patientID, const uint8_t *key, size_t keySize,
                                 std::vector<Uint8> &result, char *error, size_t size) {
    if (file->headerOnly) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "de-identification needs the whole file");
    DcmDataset *ds = file->file.getDataset();
    E_TransferSyntax xfer = ds->getOriginalXfer();
    if (xfer == EXS_Unknown) return fail(LIGHTBOX_DICOM_UNSUPPORTED, error, size, "the file's transfer syntax is unknown");
    if (xfer == EXS_DeflatedLittleEndianExplicit) xfer = EXS_LittleEndianExplicit;   // same pixels, no zlib stream to write

    for (const DcmTagKey &tag : replacedUIDs) {
        OFString uid = text(ds, tag);
        if (uid.empty()) continue;
        OFString replacement = derivedUID(key, keySize, uid);
        if (replacement.empty()) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "cannot derive a replacement UID");
        if (ds->putAndInsertOFStringArray(tag, replacement).bad())
            return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "cannot replace a UID");
    }
    for (unsigned long i = ds->card(); i-- > 0;) {
        if (!kept(ds->getElement(i)->getTag())) delete ds->remove(i);
    }
    removePrivate(ds);
    bool ok = ds->putAndInsertString(DCM_PatientID, patientID ? patientID : "").good();
    for (const DcmTagKey &tag : emptiedTags) ok = ok && ds->insertEmptyElement(tag).good();
    ok = ok && ds->putAndInsertString(DCM_PatientIdentityRemoved, "YES").good();
    ok = ok && ds->putAndInsertString(DCM_DeidentificationMethod, "Lightbox: PS3.15 E.1 basic profile as a keep-list").good();
    DcmItem *code = nullptr;
    ok = ok && ds->findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, code, 0).good() && code;
    ok = ok && code->putAndInsertString(DCM_CodeValue, "113100").good() &&
         code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM").good() &&
         code->putAndInsertString(DCM_CodeMeaning, "Basic Application Confidentiality Profile").good();
    if (!ok) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, "cannot record the de-identification");

    // The old meta header's elements (its source AE title, implementation) go: new ones are
    // written (clearing the whole header would also drop the preamble).
    DcmMetaInfo *meta = file->file.getMetaInfo();
    for (unsigned long i = meta->card(); i-- > 0;) delete meta->remove(i);
    std::vector<Uint8> chunk(size_t(1) << 20);
    DcmOutputBufferStream stream(chunk.data(), offile_off_t(chunk.size()));
    void *written = nullptr;
    offile_off_t length = 0;
    file->file.transferInit();
    OFCondition status;
    while ((status = file->file.write(stream, xfer, EET_ExplicitLength, nullptr, EGL_recalcGL, EPD_noChange, 0, 0, 0,
                                      EWM_createNewMeta)) == EC_StreamNotifyClient) {
        stream.flushBuffer(written, length);
        result.insert(result.end(), static_cast<Uint8 *>(written), static_cast<Uint8 *>(written) + length);
    }
    file->file.transferEnd();
    stream.flushBuffer(written, length);
    result.insert(result.end(), static_cast<Uint8 *>(written), static_cast<Uint8 *>(written) + length);
    if (status.bad()) return fail(LIGHTBOX_DICOM_CORRUPT, error, size, std::string("cannot write the file: ") + status.text());
    return LIGHTBOX_DICOM_OK;
}

}  // namespace

extern "C" lightbox_dicom_status lightbox_dicom_deidentify(lightbox_dicom *file, const char *patient_id,
                                                           const uint8_t *uid_key, size_t uid_key_size, uint8_t **out,
                                                           size_t *out_size, char *error, size_t error_size) {
    *out = nullptr;
    *out_size = 0;
    try {
        std::vector<Uint8> result;
        lightbox_dicom_status status = deidentify(file, patient_id, uid_key, uid_key_size, result, error, error_size);
        if (status != LIGHTBOX_DICOM_OK) return status;
        *out = static_cast<uint8_t *>(malloc(result.size()));
        if (!*out) return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "out of memory while writing the file");
        memcpy(*out, result.data(), result.size());
        *out_size = result.size();
        return LIGHTBOX_DICOM_OK;
    } catch (const std::bad_alloc &) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "out of memory while de-identifying the file");
    } catch (const std::exception &e) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, e.what());
    } catch (...) {
        return fail(LIGHTBOX_DICOM_CORRUPT, error, error_size, "de-identification failed");
    }
}

extern "C" void lightbox_dicom_free(uint8_t *buffer) {
    free(buffer);
}
