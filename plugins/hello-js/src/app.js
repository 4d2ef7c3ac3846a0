// `hello` in JavaScript: the smallest complete Keruj app, as plugins/hello.
//
// Install, update, uninstall: done. Configure: a form asking for a name. The
// submitted form: done (the name is kept), or the same form again with an
// error when the name is empty. Any other event: a form that echoes what the
// app received. Two more show the SDK's capabilities: `whoami` reads back the
// name kept in kv, and `fetch` (data `{url}`) calls out through the host's
// `http` capability; `web_fetch` (data `{url}`) does the same with the
// standard `fetch` of JavaScript (wasi:http, under the same grant).
// `remind` (data `{after}`, seconds) schedules a one-off `reminder` run for
// the company (contract 0.2.0), which logs the name kept in kv.

import { Form, app, done, http, info, kv, log, schedules, text } from '@keruj/guest';

/** The event the name form comes back as. */
const NAME_SUBMITTED = 'name_submitted';

const nameForm = () => new Form(NAME_SUBMITTED, 'Say hello', {
  description: 'Tell us who you are',
  elements: [text('name', 'Your name', { required: true })],
});

/** A read-only form showing the event's name and what came with it. */
const echo = (name, received) => new Form('echo_seen', `Echo: ${name}`, {
  elements: [info('received', JSON.stringify(received))],
});

/** A read-only form with one line for the user. */
const note = (title, line) => new Form('note_seen', title, { elements: [info('seen', line)] });

export default app({
  handle(ctx, event) {
    switch (event.kind) {
      case 'install':
      case 'update':
      case 'uninstall':
        return done;
      case 'configure':
        return nameForm();
      case 'submit':
        if (event.name === NAME_SUBMITTED) {
          const name = event.text('name');
          if (name === undefined) return nameForm().withError('name', 'Please type your name');
          kv.setJson('greeted', { name });
          log.info(`${name} said hello for ${ctx.companyId}`);
          return done;
        }
        if (event.name === 'fetch') return fetchNote(event.text('url') ?? '');
        if (event.name === 'web_fetch') return webFetchNote(event.text('url') ?? '');
        if (event.name === 'remind') {
          const greeted = kv.getJson('greeted');
          const seconds = Number(event.text('after') ?? '60');
          const id = schedules.after('reminder', seconds, { name: greeted?.name ?? 'nobody' });
          return note('Reminder', id);
        }
        return echo(event.name, event.data);
      case 'scheduled':
        if (event.event === 'reminder') log.info(`reminder for ${event.payload?.name}`);
        return done;
      case 'other':
        if (event.name === 'whoami') {
          const greeted = kv.getJson('greeted');
          return note('Who am I', greeted ? `Hello, ${greeted.name}` : 'Nobody said hello yet');
        }
        return echo(event.name, event.body);
    }
  },
});

/** `fetchNote` with JavaScript's own `fetch`: an app written for the web. */
async function webFetchNote(url) {
  try {
    const response = await fetch(url);
    return note('Fetched', `${response.status} ${await response.text()}`);
  } catch (error) {
    return note('Fetched', `error: ${error.message}`);
  }
}

/** Calls `url` through the host and shows the status and body, or why not. */
function fetchNote(url) {
  try {
    const response = http.get(url);
    return note('Fetched', `${response.status} ${response.text()}`);
  } catch (error) {
    return note('Fetched', `error: ${error.message}`);
  }
}
