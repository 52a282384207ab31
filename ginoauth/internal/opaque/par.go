package opaque

// PushedPrefix starts the reference of a pushed authorization request,
// the part of its request_uri after urn:ietf:params:oauth:request_uri:
// (RFC 9126 section 2.2).
const PushedPrefix = "gopr_"
