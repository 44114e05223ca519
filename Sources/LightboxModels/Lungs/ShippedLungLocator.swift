extension LungLocator {
    /// SHA-256 of `Resources/lung-locator.safetensors`, written by `scripts/fit_lung_locator.sh`
    /// together with the file: `shipped()` refuses any other bytes.
    public static let shippedSHA256 = "7bf0df2940eb372350b1e7f60896b1d1094f16371996c89574397d390931120a"
}
