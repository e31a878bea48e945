// The dashboard in Debian's chromium, driven by puppeteer-core: it loads
// with the admin key from the URL's fragment, draws without a console
// error, and updates without a reload when a request is answered. Run by
// tests/all/dashboard.rs with SLUICE_URL, SLUICE_KEY, SLUICE_ADMIN_KEY and
// SLUICE_SCREENSHOT set; prints what it saw as one JSON line.
import puppeteer from "puppeteer-core";

const { SLUICE_URL: url, SLUICE_KEY: key, SLUICE_ADMIN_KEY: admin, SLUICE_SCREENSHOT: shot } = process.env;
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const problems = [];
try {
  const page = await browser.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn") problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => problems.push(`requestfailed: ${r.url()}`));
  await page.setViewport({ width: 1280, height: 1000 });
  await page.goto(`${url}/dashboard#key=${admin}`, { waitUntil: "networkidle0" });
  const seen = () =>
    page.evaluate(() => ({
      requests: Number(document.getElementById("updated").dataset.requests),
      refreshes: Number(document.getElementById("updated").dataset.refreshes),
      text: document.body.innerText,
      decisions: [...document.querySelectorAll("details.decision")].map((d) => d.dataset.decision),
      url: location.href,
    }));
  await page.waitForFunction(() => Number(document.getElementById("updated").dataset.refreshes) >= 1, { timeout: 15000 });
  const before = await seen();

  const answer = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "sluice/cloud", messages: [{ role: "user", content: "Hola de nuevo, soy Ana Gómez." }] }),
  });
  const decision = answer.headers.get("x-sluice-decision-id");
  await page.waitForFunction((n) => Number(document.getElementById("updated").dataset.requests) > n, { timeout: 15000 }, before.requests);
  await page.click("details.decision summary");
  const after = await seen();
  const trace = await page.$eval("details.decision", (d) => d.innerText);
  if (shot) await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify({ before, after, decision, trace, problems }));
} finally {
  await browser.close();
}
