"""Generated protobuf code for proto/; do not edit, regenerate with `make proto`."""
