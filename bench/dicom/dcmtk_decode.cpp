// Decodes the first frame of each DICOM file with DCMTK 3.6.7 (libdcmtk-dev) and writes its stored
// samples, unmodified, to OUTDIR/NAME.dcmtk.raw; prints one JSON line per file (time in ms, the
// median of REPEAT runs from memory). Part of the library comparison in docs/dicom-library-choice.md.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>
#include <openjpeg.h>
#include <cstring>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static std::string slurp(const char *path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream s; s << f.rdbuf(); return s.str();
}

// JPEG 2000 (DCMTK's free edition has no codec): the first frame's fragments, joined up to the
// end-of-codestream marker, through OpenJPEG; samples written as 16-bit words.
struct Source { const Uint8 *data; size_t size, pos; };
static OPJ_SIZE_T readFn(void *buf, OPJ_SIZE_T n, void *user) {
    Source *s = (Source *)user; if (s->pos >= s->size) return (OPJ_SIZE_T)-1;
    n = std::min(n, s->size - s->pos); memcpy(buf, s->data + s->pos, n); s->pos += n; return n;
}
static OPJ_OFF_T skipFn(OPJ_OFF_T n, void *user) {
    Source *s = (Source *)user; if (n < 0 || s->pos + n > s->size) { s->pos = s->size; return -1; } s->pos += n; return n;
}
static OPJ_BOOL seekFn(OPJ_OFF_T n, void *user) {
    Source *s = (Source *)user; if (n < 0 || (size_t)n > s->size) return OPJ_FALSE; s->pos = n; return OPJ_TRUE;
}
static void opjError(const char *msg, void *user) { if (((std::string *)user)->empty()) *(std::string *)user = msg; }
static void opjQuiet(const char *, void *) {}

static bool decodeJ2K(DcmDataset *ds, DcmPixelData *pd, std::vector<Uint8> &out, std::string &err) {
    DcmPixelSequence *seq = nullptr;
    E_TransferSyntax xfer = ds->getOriginalXfer();
    if (pd->getEncapsulatedRepresentation(xfer, nullptr, seq).bad() || !seq) { err = "no encapsulated pixel data"; return false; }
    std::vector<Uint8> stream;
    for (unsigned long i = 1; i < seq->card(); i++) {
        DcmPixelItem *item = nullptr; Uint8 *p = nullptr;
        if (seq->getItem(item, i).bad() || item->getUint8Array(p).bad()) break;
        Uint32 len = item->getLength();
        if (p) stream.insert(stream.end(), p, p + len);
        size_t e = stream.size(); while (e > 0 && stream[e - 1] == 0) e--;
        if (e >= 2 && stream[e - 2] == 0xFF && stream[e - 1] == 0xD9) break;
    }
    Source src{stream.data(), stream.size(), 0};
    bool jp2 = stream.size() > 12 && memcmp(stream.data() + 4, "jP  ", 4) == 0;
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_set_error_handler(codec, opjError, &err);
    opj_set_warning_handler(codec, opjQuiet, nullptr);
    opj_set_info_handler(codec, opjQuiet, nullptr);
    opj_dparameters_t params; opj_set_default_decoder_parameters(&params);
    opj_setup_decoder(codec, &params);
    if (getenv("OPJ_THREADS")) opj_codec_set_threads(codec, atoi(getenv("OPJ_THREADS")));
    opj_stream_t *s = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_stream_set_user_data(s, &src, nullptr);
    opj_stream_set_user_data_length(s, src.size);
    opj_stream_set_read_function(s, readFn); opj_stream_set_skip_function(s, skipFn); opj_stream_set_seek_function(s, seekFn);
    opj_image_t *image = nullptr;
    bool ok = opj_read_header(s, codec, &image) && opj_decode(codec, s, image) && opj_end_decompress(codec, s);
    if (ok) {
        size_t n = size_t(image->comps[0].w) * image->comps[0].h, nc = image->numcomps;
        Uint16 bitsAllocated = 16; ds->findAndGetUint16(DCM_BitsAllocated, bitsAllocated);
        out.assign(n * nc * (bitsAllocated / 8), 0);
        for (size_t c = 0; c < nc; c++)
            for (size_t i = 0; i < n; i++) {
                OPJ_INT32 v = image->comps[c].data[i];
                if (bitsAllocated == 8) out[i * nc + c] = (Uint8)v; else ((Uint16 *)out.data())[i * nc + c] = (Uint16)v;
            }
    } else if (err.empty()) err = "OpenJPEG could not decode the codestream";
    if (image) opj_image_destroy(image);
    opj_stream_destroy(s); opj_destroy_codec(codec);
    return ok;
}

static bool decode(const std::string &bytes, std::vector<Uint8> &out, std::string &pi, int &planar, std::string &err) {
    DcmInputBufferStream in;
    in.setBuffer(bytes.data(), bytes.size());
    in.setEos();
    DcmFileFormat ff;
    ff.transferInit();
    OFCondition c = ff.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    ff.transferEnd();
    if (c.bad()) { err = c.text(); return false; }
    DcmDataset *ds = ff.getDataset();
    DcmElement *elem = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, elem).bad() || !elem) { err = "no pixel data"; return false; }
    DcmPixelData *pd = OFstatic_cast(DcmPixelData *, elem);
    E_TransferSyntax xfer = ds->getOriginalXfer();
    if (xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000) { pi = "(file)"; return decodeJ2K(ds, pd, out, err); }
    Uint32 frameSize = 0;
    c = pd->getUncompressedFrameSize(ds, frameSize);
    if (c.bad()) { err = c.text(); return false; }
    out.resize(frameSize + (frameSize & 1));
    Uint32 start = 0;
    OFString model;
    c = pd->getUncompressedFrame(ds, 0, start, out.data(), OFstatic_cast(Uint32, out.size()), model, nullptr);
    if (c.bad()) { err = c.text(); return false; }
    out.resize(frameSize);
    pi = model.c_str();
    Uint16 pc = 0;
    ds->findAndGetUint16(DCM_PlanarConfiguration, pc);
    planar = pc;
    return true;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: dcmtk_decode OUTDIR REPEAT FILE...\n"); return 2; }
    OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    std::string outdir = argv[1];
    int repeat = atoi(argv[2]);
    for (int i = 3; i < argc; i++) {
        std::string path = argv[i], name = path.substr(path.find_last_of('/') + 1);
        name = name.substr(0, name.rfind(".dcm"));
        std::string bytes = slurp(argv[i]), pi, err;
        std::vector<Uint8> out; int planar = 0; bool ok = true;
        std::vector<double> ms;
        for (int r = 0; r < repeat && ok; r++) {
            auto t0 = std::chrono::steady_clock::now();
            try { ok = decode(bytes, out, pi, planar, err); } catch (std::exception &e) { ok = false; err = e.what(); }
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        if (ok) {
            std::ofstream f(outdir + "/" + name + ".dcmtk.raw", std::ios::binary);
            f.write(reinterpret_cast<const char *>(out.data()), out.size());
        }
        printf("{\"name\":\"%s\",\"ok\":%s,\"error\":\"%s\",\"pi\":\"%s\",\"planar\":%d,\"bytes\":%zu,\"ms\":%.3f}\n",
               name.c_str(), ok ? "true" : "false", err.c_str(), pi.c_str(), planar, out.size(), ms[ms.size() / 2]);
        fflush(stdout);
    }
}
