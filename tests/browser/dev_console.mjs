// Drives keruj-host's dev console in headless Chromium through hello's whole
// dialogue, as a plugin author would, and saves a screenshot.
// Usage: node dev_console.mjs URL SCREENSHOT.png   (tests/e2e/dev_console.rs runs it)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node dev_console.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const executablePath = process.env.KERUJ_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "keruj-chromium-"));
const timeout = 20_000;

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic"],
  viewport: { width: 1440, height: 900 },
});
const problems = [];
try {
  const page = browser.pages()[0] || (await browser.newPage());
  page.setDefaultTimeout(timeout);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  await page.goto(url);
  await page.getByRole("heading", { name: "Apps" }).waitFor();

  // Pick hello; set the company.
  await page.locator('button.app[data-app="hello"]').click();
  await page.locator('button.app[data-app="hello"][aria-pressed="true"]').waitFor();
  await page.locator(".health-status", { hasText: "Serving" }).waitFor();
  await page.fill("#company", "acme-42");

  // Install: done.
  await page.click("#install");
  await page.locator(".card.done", { hasText: "application_install" }).waitFor();

  // Configure: the form, with its required field.
  await page.click("#configure");
  const form = page.locator("form.card.current");
  await form.locator(".form-title", { hasText: "Say hello" }).waitFor();
  const label = form.locator(".field-label", { hasText: "Your name" });
  await label.waitFor();
  check((await label.locator(".required").count()) === 1, "“Your name” has no required mark");
  check(await form.locator(".form-description", { hasText: "Tell us who you are" }).isVisible(),
    "the form's description is not shown");

  // Submit empty: the app's field error, next to the field.
  await form.getByRole("button", { name: "Submit" }).click();
  const again = page.locator("form.card.current");
  await again.locator(".field.invalid .field-error", { hasText: "Please type your name" }).waitFor();
  check((await page.locator("form.card.past").count()) === 1, "the first form is not kept as a past step");

  // Type a name and submit: done.
  await again.getByLabel("Your name").fill("Olena");
  await again.getByRole("button", { name: "Submit" }).click();
  await page.locator(".card.done", { hasText: "name_submitted" }).waitFor();

  // The event log: every event with its status, and hello's line for the name.
  const entries = page.locator("#log .entry");
  await page.locator("#log .entry .entry-event", { hasText: "name_submitted" }).first().waitFor();
  const events = await entries.locator(".entry-event").allTextContents();
  const statuses = await entries.locator(".status").allTextContents();
  const expected = ["name_submitted", "name_submitted", "application_configure", "application_install"];
  check(JSON.stringify(events) === JSON.stringify(expected), `the log shows ${JSON.stringify(events)}`);
  check(statuses.every((status) => status === "200"), `the statuses are ${JSON.stringify(statuses)}`);
  await entries.first().locator(".line.plugin", { hasText: "Olena said hello for acme-42" }).waitFor();

  // A custom event with a JSON body: hello echoes it.
  await page.fill("#custom-event", "order_created");
  await page.fill("#custom-body", '{"data": {"order": 7}}');
  await page.locator("#custom").getByRole("button", { name: "Send event" }).click();
  await page.locator("form.card.current .form-title", { hasText: "Echo: order_created" }).waitFor();
  await page.locator("form.card.current .info", { hasText: '{"order":7}' }).waitFor();

  // Uninstall: done; then configure is refused with 409, shown as an error.
  await page.click("#uninstall");
  await page.locator(".card.done", { hasText: "application_uninstall" }).waitFor();
  await page.click("#configure");
  await page.locator(".card.failed", { hasText: "409" }).waitFor();
  await page.locator("#log .entry .status", { hasText: "409" }).waitFor();

  // The screenshot shows the dialogue up to done, not the refusal.
  await page.click("#clear");
  await page.click("#install");
  await page.locator(".card.done", { hasText: "application_install" }).waitFor();
  await page.click("#configure");
  await page.locator("form.card.current").getByRole("button", { name: "Submit" }).click();
  await page.locator("form.card.current .field-error").waitFor();
  await page.screenshot({ path: screenshot, fullPage: true });

  // Every element type of the form format, as the console renders it (the
  // same renderForm the dialogue uses), and the answers it sends back.
  await page.click("#clear");
  const sent = await page.evaluate(() => {
    const form = {
      reply: "all_set", title: "Every field", description: "All the types",
      elements: [
        { type: "text", name: "t", label: "Text", required: true, value: "hi" },
        { type: "password", name: "p", label: "Password" },
        { type: "textarea", name: "ta", label: "Notes", value: "a\nb" },
        { type: "number", name: "n", label: "Count", value: 3 },
        { type: "checkbox", name: "c", label: "Agree", value: true },
        { type: "select", name: "s", label: "Pick", value: "y",
          options: [{ value: "x", label: "Ex" }, { value: "y", label: "Why" }] },
        { type: "info", name: "i", label: "Read me first" },
      ],
      errors: { n: "Too many", other: "Something else" },
    };
    const node = renderForm(form);
    node.id = "every-field";
    document.getElementById("dialogue").append(node);
    return collect(node, form);
  });
  const every = page.locator("#every-field");
  check(await every.getByLabel("Text").inputValue() === "hi", "text: no initial value");
  check(await every.locator(".field-label", { hasText: "Text" }).locator(".required").count() === 1, "text: no required mark");
  check(await every.getByLabel("Password").getAttribute("type") === "password", "password: not masked");
  check(await every.getByLabel("Notes").inputValue() === "a\nb", "textarea: no initial value");
  check(await every.getByLabel("Count").inputValue() === "3", "number: no initial value");
  check(await every.getByLabel("Agree").isChecked(), "checkbox: not ticked");
  check(await every.getByLabel("Pick").inputValue() === "y", "select: not on its value");
  check(await every.locator(".info").textContent() === "Read me first", "info: not shown");
  check(await every.locator(".field.invalid", { hasText: "Count" }).locator(".field-error").textContent() === "Too many",
    "number: its error is not beside it");
  check(await every.locator(".form-error").textContent() === "other: Something else", "an error for no field is not shown");
  const want = { t: "hi", p: "", ta: "a\nb", n: 3, c: true, s: "y" };
  check(JSON.stringify(sent) === JSON.stringify(want), `the answers are ${JSON.stringify(sent)}`);

  check(problems.length === 0, problems.join("\n"));
  console.log(`dev console: hello's dialogue played; screenshot at ${screenshot}`);
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
