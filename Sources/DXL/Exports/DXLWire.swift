// The message codec and JSON values are part of the DXL library's surface.
@_exported import DXLWire
