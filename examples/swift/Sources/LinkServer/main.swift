// Opens a server token with its key and prints the consumer key and the days
// left: swift run LinkServer TOKEN_FILE KEY_FILE
import CMdmlink
import Foundation

struct MdmlinkError: Error, CustomStringConvertible {
    let status: mdmlink_status
    let message: String
    var description: String { "\(message) (status \(status))" }
}

/// Runs a mdmlink call that reports through `mdmlink_error **`.
func call(_ body: (UnsafeMutablePointer<OpaquePointer?>) -> mdmlink_status) throws {
    var err: OpaquePointer? = nil
    defer { mdmlink_error_free(err) }
    let status = body(&err)
    if status != MDMLINK_STATUS_OK.rawValue {
        let message = err.flatMap { mdmlink_error_message($0) }.map { String(cString: $0) } ?? "no details"
        throw MdmlinkError(status: status, message: message)
    }
}

let args = CommandLine.arguments
guard args.count == 3 else {
    FileHandle.standardError.write("usage: LinkServer TOKEN_FILE KEY_FILE\n".data(using: .utf8)!)
    exit(2)
}
do {
    let token = try Data(contentsOf: URL(fileURLWithPath: args[1]))
    let key = try Data(contentsOf: URL(fileURLWithPath: args[2]))

    var keypair: OpaquePointer? = nil
    try key.withUnsafeBytes { raw in
        try call { mdmlink_keypair_from_pem(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, nil, &keypair, $0) }
    }
    defer { mdmlink_keypair_free(keypair) }

    var opened: OpaquePointer? = nil
    try token.withUnsafeBytes { raw in
        try call { mdmlink_token_open(keypair, raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &opened, $0) }
    }
    defer { mdmlink_token_free(opened) }

    let consumerKey = String(cString: mdmlink_token_consumer_key(opened))
    let expiry = Date(timeIntervalSince1970: TimeInterval(mdmlink_token_expiry_unix(opened)))
    let days = Int((expiry.timeIntervalSinceNow / 86400).rounded(.down))
    print("mdmlink \(String(cString: mdmlink_version()))")
    print("consumer key: \(consumerKey)")
    print("days to expiry: \(days)")
} catch {
    FileHandle.standardError.write("error: \(error)\n".data(using: .utf8)!)
    exit(1)
}
