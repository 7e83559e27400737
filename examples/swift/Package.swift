// swift-tools-version:5.7
// mdmlink from Swift: a .systemLibrary target for the C API and a small
// program. Install the library first (scripts/install.sh PREFIX) and make
// pkg-config find it (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig), or pass
// -Xcc -I<checkout>/capi/include and link the installed library.
import PackageDescription

let package = Package(
    name: "MdmlinkSwiftExample",
    targets: [
        .systemLibrary(
            name: "CMdmlink",
            path: "Sources/CMdmlink",
            pkgConfig: "mdmlink"
        ),
        .executableTarget(
            name: "LinkServer",
            dependencies: ["CMdmlink"],
            path: "Sources/LinkServer"
        ),
    ]
)
