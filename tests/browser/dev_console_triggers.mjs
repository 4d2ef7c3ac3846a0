// Drives the dev console's "Schedules and webhooks" panel in headless
// Chromium with the `recorder` test app (a schedule `digest`, a webhook `gh`
// signed with an `env:` secret): run the schedule now, send a signed test
// delivery, and see both done in the dialogue and the event log.
// Usage: node dev_console_triggers.mjs URL SCREENSHOT.png   (tests/e2e/dev_console.rs runs it)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node dev_console_triggers.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const executablePath = process.env.KERUJ_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "keruj-chromium-"));

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"],
  viewport: { width: 1440, height: 1000 },
});
const problems = [];
try {
  const page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  await page.goto(url);
  await page.locator('button.app[data-app="recorder"][aria-pressed="true"]').waitFor();
  await page.fill("#company", "acme-7");

  // Before the install: the schedule with its next due time, no URL yet.
  const digest = page.locator('[data-schedule="digest"]');
  await digest.locator(".trigger-meta", { hasText: "every 1h · next " }).waitFor();
  await page.locator("#triggers .hint", { hasText: "Install the app" }).waitFor();
  check(await digest.getByRole("button", { name: "Run now" }).isDisabled(), "Run now before the install");

  await page.click("#install");
  await page.locator(".card.done", { hasText: "application_install" }).waitFor();
  const hook = page.locator('[data-webhook="gh"]');
  const address = await hook.getByLabel("gh URL").inputValue();
  check(address.startsWith(`${url.replace(/\/$/, "")}/hooks/`), `the URL is ${address}`);

  await digest.getByRole("button", { name: "Run now" }).click();
  await page.locator(".card.done", { hasText: "the app accepted digest" }).waitFor();
  await hook.getByRole("button", { name: "Send signed test delivery" }).click();
  await page.locator(".card.done", { hasText: "the app accepted push" }).waitFor();

  const events = await page.locator("#log .entry .entry-event").allTextContents();
  check(JSON.stringify(events) === JSON.stringify(["push", "digest", "application_install"]),
    `the log shows ${JSON.stringify(events)}`);
  await page.screenshot({ path: screenshot, fullPage: true });
  check(problems.length === 0, problems.join("\n"));
  console.log(`dev console: a schedule run and a signed delivery; screenshot at ${screenshot}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
