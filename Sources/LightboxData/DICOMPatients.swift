import Foundation
import LightboxImaging

/// In every data source, a DICOM file's patient (its group for patient-level splits) is its
/// PatientID (0010,0020), unless the source gives a group itself. The id becomes a pseudonym at
/// once (`PatientPseudonyms`): no raw id reaches a split, a report or a CSV.
public enum DICOMPatients {
    /// Whether `path` is read as DICOM when grouping: a regular file (after links) with a
    /// `.dcm`/`.dicom` name, or with the preamble. A FIFO or a device is never opened.
    public static func isDICOM(_ path: String) -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        guard ext == "dcm" || ext == "dicom" else { return ImageFiles.hasDICOMPreamble(path) }
        return ImageFiles.isRegularFile(path)
    }

    /// `dataset` with each DICOM image that the source left without a group (its group is its
    /// own path) grouped by its patient's pseudonym. The salt is read (or made) in `saltFolder`
    /// only when a patient id is found. A file whose header cannot be read keeps its group: the
    /// decoder refuses it later, with the reason, as any unreadable picture.
    public static func group(_ dataset: Dataset, saltFolder: String) throws -> Dataset {
        var pseudonyms = dataset.pseudonyms
        var images = dataset.images, found = 0
        for i in images.indices where images[i].group == images[i].path && isDICOM(images[i].path) {
            guard let id = (try? DICOMIdentifiers.read(path: images[i].path))?.patientID else { continue }
            if pseudonyms == nil { pseudonyms = try PatientPseudonyms.stored(in: saltFolder) }
            images[i].group = pseudonyms!.pseudonym(for: id)
            found += 1
        }
        guard found > 0 else { return dataset }
        var grouped = dataset.with(images: images, hasGroups: true)
        grouped.pseudonyms = pseudonyms
        return grouped
    }
}
