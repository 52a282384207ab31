package opaque

// DevicePrefix starts a device code (RFC 8628 section 3.2).
const DevicePrefix = "godc_"
