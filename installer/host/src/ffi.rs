//! Raw declarations of the C ABI in `cpp/pxhost.h`.
