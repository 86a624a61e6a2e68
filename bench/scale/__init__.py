"""`python -m bench.scale`: Kezek on a small and on a national-size database (bench/REPORT.md)."""
