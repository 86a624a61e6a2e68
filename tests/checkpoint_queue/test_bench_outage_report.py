"""bench/outage.py writes its own section of bench/REPORT.md and nothing else: another bench's
sections around it stay as they are, and a second run replaces the section in place."""

from bench import outage


def test_the_outage_section_replaces_only_itself(tmp_path, monkeypatch):
    report = tmp_path / "REPORT.md"
    report.write_text("# Bench\n\n## Another engineer's section\n\ntheir table\n")
    monkeypatch.setattr(outage, "REPORT", report)
    outage.write_section("## Working through an outage\n\nfirst run\n")
    outage.write_section("## Working through an outage\n\nsecond run\n")
    text = report.read_text()
    assert text.startswith("# Bench\n\n## Another engineer's section\n\ntheir table\n\n")
    assert "first run" not in text and text.count("second run") == 1
    assert text.count(outage.BEGIN) == text.count(outage.END) == 1
    report.write_text(text + "\n## A section added later\n")
    outage.write_section("## Working through an outage\n\nthird run\n")
    assert report.read_text().endswith(
        "third run\n" + outage.END + "\n\n## A section added later\n"
    )
