#!/usr/bin/env python3
"""End-to-end test of Lightbox Studio in a real browser (headless Chromium via Selenium).

Starts `lightbox serve` on a free loopback port with a fresh data directory, then does what a
new user does: create a project, add two classes, upload Teachable Machine's training images
from ../shared into them, train a few epochs, open a confusion-matrix cell, predict an image.
A screenshot of each step goes to ARTIFACTS (default .build/e2e-artifacts).
Prints "e2e: N passed, M failed" and exits non-zero on any failure.
Run: python3 Tests/e2e/studio_e2e.py [.build/debug/lightbox]
"""
import os, shutil, socket, subprocess, sys, tempfile, time, traceback

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(ROOT, "..", "shared", "models", "teachable-machine-image", "training-images")
ARTIFACTS = os.environ.get("ARTIFACTS", os.path.join(ROOT, ".build", "e2e-artifacts"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lightbox")
    os.makedirs(ARTIFACTS, exist_ok=True)
    data = tempfile.mkdtemp(prefix="studio-e2e-")
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--port", str(port), "--data-dir", data],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/"
    for _ in range(100):  # bounded wait for the server: 10 s
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 60)
    passed, failed = 0, 0

    def step(name, action):
        nonlocal passed, failed
        try:
            action()
            passed += 1
            print(f"ok   {name}")
        except Exception:
            failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}")
        driver.save_screenshot(os.path.join(ARTIFACTS, f"{passed + failed:02d}-{name.replace(' ', '-')}.png"))

    def create_project():
        driver.get(base)
        driver.find_element(By.ID, "newProject").send_keys("e2e chest")
        driver.find_element(By.ID, "createProject").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "projectName"), "e2e chest"))

    def add_classes_and_upload():
        for name in ("Class 1", "Class 2"):
            count = len(driver.find_elements(By.CSS_SELECTOR, "#classes .col"))
            box = driver.find_element(By.ID, "newClass")
            box.clear()
            box.send_keys(name)
            driver.find_element(By.ID, "addClass").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#classes .col")) == count + 1)
        for k, name in enumerate(("Class 1", "Class 2")):
            files = sorted(os.path.join(SHARED, name, f) for f in os.listdir(os.path.join(SHARED, name)) if f.endswith(".png"))
            column = driver.find_elements(By.CSS_SELECTOR, "#classes .col")[k]
            column.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys("\n".join(os.path.abspath(f) for f in files))
            wait.until(lambda d: f"({len(files)} images)" in d.find_elements(By.CSS_SELECTOR, "#classes .col")[k].text)

    def train():
        epochs = driver.find_element(By.ID, "epochs")
        epochs.clear()
        epochs.send_keys("5")
        split = driver.find_element(By.ID, "split")
        split.clear()
        split.send_keys("60/20/20")
        driver.find_element(By.ID, "train").click()
        WebDriverWait(driver, 120).until(EC.visibility_of_element_located((By.ID, "results")))
        assert "accuracy" in driver.find_element(By.ID, "headline").text

    def open_confusion_cell():
        cells = [c for c in driver.find_elements(By.CSS_SELECTOR, "#confusion td.cell") if c.text.strip() not in ("", "0")]
        cells[0].click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cellImages img")) >= 1)

    def predict():
        image = os.path.abspath(os.path.join(SHARED, "Class 2", "5.png"))
        driver.find_element(By.ID, "predictFile").send_keys(image)
        wait.until(lambda d: "%" in d.find_element(By.ID, "prediction").text)
        assert driver.find_elements(By.CSS_SELECTOR, "#prediction img"), "heatmap shown"

    try:
        step("create project", create_project)
        step("add classes and upload images", add_classes_and_upload)
        step("train", train)
        step("open confusion matrix cell", open_confusion_cell)
        step("predict an image", predict)
    finally:
        driver.quit()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    print(f"screenshots in {ARTIFACTS}")
    print(f"e2e: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
