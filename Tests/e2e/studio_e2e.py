#!/usr/bin/env python3
"""End-to-end test of Lightbox Studio in a real browser (headless Chromium via Selenium).

Starts `lightbox serve` on a free loopback port with a fresh data directory and logs in through
the login URL it prints, then does what a new user does: create a project, add two classes,
upload Teachable Machine's training images from ../shared into them, train a few epochs, open a
confusion-matrix cell, predict an image. The class names are hostile (markup with an onerror
handler, quotes, a formula): they must show as text and never run. Then a page served from
another origin (a second local server on another port) tries to read and change the Studio
with the browser's session cookie, and must fail at both.
A screenshot of each step goes to ARTIFACTS (default .build/e2e-artifacts).
Prints "e2e: N passed, M failed" and exits non-zero on any failure.
Run: python3 Tests/e2e/studio_e2e.py [.build/debug/lightbox]
"""
import http.server, json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "Tests", "support"))
from steps import Steps  # noqa: E402
SHARED = os.path.join(ROOT, "..", "shared", "models", "teachable-machine-image", "training-images")
ARTIFACTS = os.environ.get("ARTIFACTS", os.path.join(ROOT, ".build", "e2e-artifacts"))
# Hostile class names: markup that would run if inserted as HTML, quotes and commas, a formula.
XSS = '<img src=x onerror="window.__pwned=1">'
QUOTED = '"quoted", =1+2*3'
CLASSES = (XSS, QUOTED)

ATTACK_PAGE = """<!doctype html><html><body><pre id="log"></pre><iframe name="sink" id="sink"></iframe>
<script>
const studio = %(studio)s, log = [];
const note = s => { log.push(s); document.getElementById('log').textContent = log.join('\\n'); };
async function attempt(name, f) { try { note(name + ': ' + await f()); } catch (e) { note(name + ': blocked (' + e.name + ')'); } }
(async () => {
  await attempt('read projects', async () => { const r = await fetch(studio + '/api/projects', {credentials: 'include'}); return 'READ ' + r.status + ' ' + await r.text(); });
  await attempt('text/plain POST', async () => { await fetch(studio + '/api/projects', {method: 'POST', mode: 'no-cors', credentials: 'include', headers: {'Content-Type': 'text/plain'}, body: '{"name":"pwned-fetch"}'}); return 'sent'; });
  await attempt('JSON POST', async () => { const r = await fetch(studio + '/api/projects', {method: 'POST', credentials: 'include', headers: {'Content-Type': 'application/json'}, body: '{"name":"pwned-json"}'}); return 'READ ' + r.status; });
  await attempt('DELETE project', async () => { const r = await fetch(studio + '/api/projects/1', {method: 'DELETE', credentials: 'include'}); return 'READ ' + r.status; });
  await attempt('DELETE no-cors', async () => { await fetch(studio + '/api/images/1', {method: 'DELETE', mode: 'no-cors', credentials: 'include'}); return 'sent'; });
  const form = document.createElement('form'); form.method = 'POST'; form.action = studio + '/api/projects'; form.target = 'sink';
  form.enctype = 'text/plain'; const i = document.createElement('input'); i.name = '{"name":"pwned-form","x":"'; i.value = '"}'; form.append(i);
  document.body.append(form); form.submit(); note('form POST: submitted');
  await new Promise(r => setTimeout(r, 1500));
  await attempt('read framed page', async () => { const d = document.getElementById('sink').contentDocument; return 'READ ' + (d && d.body ? d.body.innerText : 'nothing'); });
  note('done');
})();
</script></body></html>"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, data):
    env = dict(os.environ, LIGHTBOX_TOKEN="")
    server = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", data], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=env, text=True)
    line = server.stdout.readline().strip()  # "login: http://127.0.0.1:PORT/?token=..."
    if not line.startswith("login: "):
        server.terminate()
        raise SystemExit(f"serve printed no login URL: {line!r}")
    return server, line[len("login: "):]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "lightbox")
    os.makedirs(ARTIFACTS, exist_ok=True)
    data = tempfile.mkdtemp(prefix="studio-e2e-")
    server, login_url = start_server(binary, data)
    base = login_url.split("?")[0]
    token = login_url.split("?token=")[1]
    origin = base.rstrip("/")

    def api(path, method="GET", body=None):
        request = urllib.request.Request(origin + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, None

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    wait = WebDriverWait(driver, 60)
    attacker = None
    steps = Steps(after_each=lambda n, name: driver.save_screenshot(os.path.join(ARTIFACTS, f"{n:02d}-{name.replace(' ', '-')}.png")))
    step = steps.step

    def no_injection():
        assert driver.execute_script("return window.__pwned") is None, "an injected handler ran"
        assert not driver.find_elements(By.CSS_SELECTOR, 'img[src="x"]'), "markup from a class name became an element"

    def page_needs_login():
        driver.get(base)
        wait.until(EC.visibility_of_element_located((By.ID, "login")))
        assert not driver.find_element(By.ID, "app").is_displayed()

    def log_in_through_printed_url():
        driver.get(login_url)
        wait.until(EC.visibility_of_element_located((By.ID, "app")))
        assert "token" not in driver.current_url, driver.current_url
        cookies = driver.get_cookies()
        assert any(c["name"].startswith("lightbox_studio_") and c["httpOnly"] and c.get("sameSite") == "Strict" for c in cookies), cookies
        assert token not in json.dumps(driver.execute_script("return Object.assign({}, localStorage)")), "token in localStorage"
        assert driver.execute_script("return document.cookie") == "", "the session cookie is readable from script"

    def create_project():
        driver.find_element(By.ID, "newProject").send_keys("e2e chest")
        driver.find_element(By.ID, "createProject").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "projectName"), "e2e chest"))

    def add_classes_and_upload():
        for name in CLASSES:
            count = len(driver.find_elements(By.CSS_SELECTOR, "#classes .col"))
            box = driver.find_element(By.ID, "newClass")
            box.clear()
            box.send_keys(name)
            driver.find_element(By.ID, "addClass").click()
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#classes .col")) == count + 1)
        for k, folder in enumerate(("Class 1", "Class 2")):
            files = sorted(os.path.join(SHARED, folder, f) for f in os.listdir(os.path.join(SHARED, folder)) if f.endswith(".png"))
            column = driver.find_elements(By.CSS_SELECTOR, "#classes .col")[k]
            column.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys("\n".join(os.path.abspath(f) for f in files))
            wait.until(lambda d: f"({len(files)} images)" in d.find_elements(By.CSS_SELECTOR, "#classes .col")[k].text)
        titles = [c.find_element(By.TAG_NAME, "b").text for c in driver.find_elements(By.CSS_SELECTOR, "#classes .col")]
        assert titles == list(CLASSES), titles
        no_injection()

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
        # The operating point and the shortcut audit are on the page, with the classes' names as text.
        assert "Operating point" in driver.find_element(By.ID, "decision").text, driver.find_element(By.ID, "decision").text
        audit = driver.find_element(By.ID, "audit").text
        assert "Shortcut audit" in audit and "blacked out" in audit, audit
        headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#confusion th")]
        assert XSS in headers and QUOTED in headers, headers
        cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#perClass td")]
        assert XSS in cells and QUOTED in cells, cells
        no_injection()

    def open_confusion_cell():
        cells = [c for c in driver.find_elements(By.CSS_SELECTOR, "#confusion td.cell") if c.text.strip() not in ("", "0")]
        cells[0].click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cellImages img")) >= 1)
        no_injection()

    def predict():
        image = os.path.abspath(os.path.join(SHARED, "Class 2", "5.png"))
        driver.find_element(By.ID, "predictFile").send_keys(image)
        wait.until(lambda d: "%" in d.find_element(By.ID, "prediction").text)
        assert driver.find_elements(By.CSS_SELECTOR, "#prediction img"), "heatmap shown"
        no_injection()

    def other_origin_can_neither_read_nor_change():
        nonlocal attacker
        status, before = api("/api/projects")
        assert status == 200 and len(before) == 1, (status, before)
        _, project = api(f"/api/projects/{before[0]['id']}")
        page = (ATTACK_PAGE % {"studio": json.dumps(origin)}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        driver.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        WebDriverWait(driver, 30).until(lambda d: "done" in d.find_element(By.ID, "log").text)
        log = driver.find_element(By.ID, "log").text
        print(log)
        for line in log.splitlines():
            if line.startswith(("read projects", "JSON POST", "DELETE project")):
                assert "blocked" in line, f"the other origin got an answer: {line}"
            if line.startswith("read framed page"):
                assert "blocked" in line or "READ nothing" in line, f"the other origin read the framed answer: {line}"
            assert "e2e chest" not in line, f"the other origin read data: {line}"
        time.sleep(1)
        status, after = api("/api/projects")
        assert [p["name"] for p in after] == [p["name"] for p in before], f"projects changed: {after}"
        _, project_after = api(f"/api/projects/{before[0]['id']}")
        assert project_after["classes"] == project["classes"], "classes or images changed"

    try:
        step("page needs login", page_needs_login)
        step("log in through the printed URL", log_in_through_printed_url)
        step("create project", create_project)
        step("add classes and upload images", add_classes_and_upload)
        step("train", train)
        step("open confusion matrix cell", open_confusion_cell)
        step("predict an image", predict)
        step("another origin can neither read nor change", other_origin_can_neither_read_nor_change)
    finally:
        driver.quit()
        if attacker:
            attacker.shutdown()
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    print(f"screenshots in {ARTIFACTS}")
    sys.exit(steps.summary("e2e"))


if __name__ == "__main__":
    main()
