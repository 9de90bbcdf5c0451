"""Pass/fail bookkeeping shared by the driver end-to-end scripts (tests/drivers/test_*_cli.py).

Every check is counted; a failing one is printed with its detail, so one run reports every failure
instead of stopping at the first. The script ends with sys.exit(1 if cli_checks.failed else 0).
"""

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {name}\n  {detail}"[:4000])
