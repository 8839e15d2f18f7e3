"""The operator's tools: `doctor`, `logs`, `simulate` (SPEC §11). `demo` lives in `app/demo/`."""
