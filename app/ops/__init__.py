"""The operator's tools: `doctor`, `logs`, `simulate` (docs/operations.md#cli). `demo` lives in `app/demo/`."""
