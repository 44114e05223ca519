// Decodes the first frame of each DICOM file with GDCM 3.0 (libgdcm-dev) and writes its stored
// samples, unmodified, to OUTDIR/NAME.gdcm.raw; prints one JSON line per file (time in ms, the
// median of REPEAT runs from memory). Part of the library comparison in docs/dicom-library-choice.md.
#include <gdcmImageRegionReader.h>
#include <gdcmImageHelper.h>
#include <gdcmBoxRegion.h>
#include <gdcmImageReader.h>
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

// One decode from memory: first frame only, through ImageRegionReader (a z = 0 box).
static bool decodeRegion(const std::string &bytes, std::vector<char> &out, std::string &pi, int &planar, std::string &err) {
    std::istringstream in(bytes);
    gdcm::ImageRegionReader reader;
    reader.SetStream(in);
    if (!reader.ReadInformation()) { err = "ReadInformation failed"; return false; }
    gdcm::File &file = reader.GetFile();
    std::vector<unsigned int> dims = gdcm::ImageHelper::GetDimensionsValue(file);
    gdcm::BoxRegion box;
    box.SetDomain(0, dims[0] - 1, 0, dims[1] - 1, 0, 0);
    reader.SetRegion(box);
    size_t len = reader.ComputeBufferLength();
    out.resize(len);
    if (!reader.ReadIntoBuffer(out.data(), len)) { err = "ReadIntoBuffer failed"; return false; }
    pi = gdcm::PhotometricInterpretation::GetPIString(gdcm::ImageHelper::GetPhotometricInterpretationValue(file));
    planar = 0;
    const gdcm::DataSet &ds = file.GetDataSet();
    if (ds.FindDataElement(gdcm::Tag(0x0028, 0x0006)) && !ds.GetDataElement(gdcm::Tag(0x0028, 0x0006)).IsEmpty()) {
        const gdcm::ByteValue *bv = ds.GetDataElement(gdcm::Tag(0x0028, 0x0006)).GetByteValue();
        if (bv && bv->GetLength() >= 2) planar = (unsigned char)bv->GetPointer()[0];
    }
    return true;
}

// One decode from memory: the whole pixel data through ImageReader, first frame kept.
static bool decodeImage(const std::string &bytes, std::vector<char> &out, std::string &pi, int &planar, std::string &err) {
    std::istringstream in(bytes);
    gdcm::ImageReader reader;
    reader.SetStream(in);
    if (!reader.Read()) { err = "Read failed"; return false; }
    const gdcm::Image &image = reader.GetImage();
    std::vector<char> all(image.GetBufferLength());
    if (!image.GetBuffer(all.data())) { err = "GetBuffer failed"; return false; }
    const unsigned int *d = image.GetDimensions();
    size_t frame = size_t(d[0]) * d[1] * image.GetPixelFormat().GetPixelSize();
    out.assign(all.begin(), all.begin() + std::min(frame, all.size()));
    pi = gdcm::PhotometricInterpretation::GetPIString(image.GetPhotometricInterpretation());
    planar = image.GetPlanarConfiguration();
    return true;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: gdcm_decode region|image OUTDIR REPEAT FILE...\n"); return 2; }
    bool region = std::string(argv[1]) == "region";
    std::string outdir = argv[2];
    int repeat = atoi(argv[3]);
    for (int i = 4; i < argc; i++) {
        std::string path = argv[i], name = path.substr(path.find_last_of('/') + 1);
        name = name.substr(0, name.rfind(".dcm"));
        std::string bytes = slurp(argv[i]), pi, err;
        std::vector<char> out; int planar = 0; bool ok = true;
        std::vector<double> ms;
        for (int r = 0; r < repeat && ok; r++) {
            auto t0 = std::chrono::steady_clock::now();
            try {
                ok = region ? decodeRegion(bytes, out, pi, planar, err) : decodeImage(bytes, out, pi, planar, err);
            } catch (std::exception &e) { ok = false; err = e.what(); }
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());
        if (ok) {
            std::ofstream f(outdir + "/" + name + ".gdcm-" + argv[1] + ".raw", std::ios::binary);
            f.write(out.data(), out.size());
        }
        printf("{\"name\":\"%s\",\"ok\":%s,\"error\":\"%s\",\"pi\":\"%s\",\"planar\":%d,\"bytes\":%zu,\"ms\":%.3f}\n",
               name.c_str(), ok ? "true" : "false", err.c_str(), pi.c_str(), planar, out.size(), ms[ms.size() / 2]);
        fflush(stdout);
    }
}
