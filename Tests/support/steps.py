"""Named test steps for the Python test drivers (e2e, examples): each step runs, prints
"ok   NAME" or "FAIL NAME" with its traceback, and is counted; `summary(label)` prints the
"LABEL: N passed, M failed" line scripts/test.sh adds up."""
import traceback


class Steps:
    def __init__(self, after_each=None):
        self.passed = self.failed = 0
        self.after_each = after_each  # called with (number, name) after every step, e.g. a screenshot

    def step(self, name, action):
        try:
            action()
            self.passed += 1
            print(f"ok   {name}")
        except Exception:
            self.failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}")
        if self.after_each:
            self.after_each(self.passed + self.failed, name)

    def fail(self, name):
        """A failure outside any step (the setup of the steps), with the current exception."""
        self.failed += 1
        print(f"FAIL {name}\n{traceback.format_exc()}")

    def summary(self, label):
        print(f"{label}: {self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
