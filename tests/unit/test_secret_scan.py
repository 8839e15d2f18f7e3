"""The end-of-run secret scan finds every encoding of a secret, and only in output files."""

from __future__ import annotations

import gzip

from tests.secret_scan import forms, scan

TOKEN = "tok+en/with=sp ace~%x"


def test_every_encoding_of_a_secret_is_found_with_file_and_line(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for i, form in enumerate(sorted(forms(TOKEN))):
        (logs / f"web{i}.log").write_text(f"first line\nuri: '/webhook?token={form}'\n")
    files, _, findings = scan(tmp_path, {TOKEN: "WEBHOOK_AUTH_TOKEN"})
    assert files == len(forms(TOKEN)) >= 4
    assert len(findings) == files  # one finding per file: each holds one distinct form
    assert all(f.endswith(")") and ":2: WEBHOOK_AUTH_TOKEN (" in f for f in findings)
    assert not any(TOKEN in f for f in findings)  # the report names the variable, never the value


def test_rotated_compressed_logs_and_program_output_are_scanned(tmp_path):
    (tmp_path / "hub.log.1.gz").write_bytes(gzip.compress(b"ok\nkey=sk-live-123456\n"))
    (tmp_path / "worker-1.out").write_text("sk-live-123456")
    _, _, findings = scan(tmp_path, {"sk-live-123456": "LLM_API_KEY"})
    assert sorted(f.split(":")[0] for f in findings) == ["hub.log.1.gz", "worker-1.out"]


def test_files_that_hold_secrets_on_purpose_are_not_outputs(tmp_path):
    (tmp_path / ".env").write_text("WEBHOOK_AUTH_TOKEN=sk-live-123456\n")
    (tmp_path / "token_file").write_text("sk-live-123456")
    (tmp_path / "webhook.log").write_text("nothing secret here\n")
    files, _, findings = scan(tmp_path, {"sk-live-123456": "LLM_API_KEY"})
    assert (files, findings) == (1, [])
