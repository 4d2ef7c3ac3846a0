/** The largest reply the host accepts, in bytes of JSON. */
export const MAX_REPLY_BYTES: number;
/** The most elements one form may hold. */
export const MAX_ELEMENTS: number;
/** The kinds of form elements Keruj shows. */
export const ELEMENT_TYPES: readonly ElementType[];

export type ElementType = 'text' | 'password' | 'textarea' | 'number' | 'checkbox' | 'select' | 'info';

/** A choice of a `select`: `{ value, label }` or `[value, label]`. */
export type SelectOption = { value: string; label: string } | readonly [string, string];

export interface ElementOptions<V> {
  /** The user must fill it in. */
  required?: boolean;
  /** Keruj should mask what the user types. */
  secret?: boolean;
  /** The value the field starts with. */
  value?: V;
}

/** Why a reply is not a valid form; the message starts with `invalid form: `. */
export class FormError extends Error {}

/** An event name as Keruj carries it: `[A-Za-z0-9_.-]{1,128}`. */
export function isEventName(name: unknown): boolean;

/** One field of a form. */
export class Element {
  constructor(type: ElementType, name: string, label: string, opts?: ElementOptions<unknown> & { options?: SelectOption[] });
  readonly type: ElementType;
  readonly name: string;
  readonly label: string;
  readonly required: boolean;
  readonly secret: boolean;
  readonly options: { value: string; label: string }[];
  readonly value: unknown;
  /** Checks this element alone; throws a FormError. */
  validate(): void;
  toJSON(): object;
}

export function text(name: string, label: string, opts?: ElementOptions<string>): Element;
export function password(name: string, label: string, opts?: ElementOptions<string>): Element;
export function textarea(name: string, label: string, opts?: ElementOptions<string>): Element;
export function number(name: string, label: string, opts?: ElementOptions<number>): Element;
export function checkbox(name: string, label: string, opts?: ElementOptions<boolean>): Element;
export function select(name: string, label: string, options: SelectOption[], opts?: ElementOptions<string>): Element;
/** Text for the user to read; it brings no answer back. */
export function info(name: string, text: string): Element;

export interface FormOptions {
  /** Text under the heading. */
  description?: string;
  /** The fields, in display order. */
  elements?: Element[];
  /** Messages to show next to fields, by element name. */
  errors?: Record<string, string>;
}

/** A form for Keruj to show, and the event (`reply`) that brings the answers back. */
export class Form {
  constructor(reply: string, title: string, opts?: FormOptions);
  readonly reply: string;
  readonly title: string;
  readonly description: string | undefined;
  readonly elements: Element[];
  readonly errors: Record<string, string>;
  /** A copy with `message` shown next to the field `name`. */
  withError(name: string, message: string): Form;
  /** A copy with more elements. */
  withElements(...elements: Element[]): Form;
  /** Checks the form as the host will; throws a FormError. */
  validate(): this;
  toJSON(): object;
  /** The form as the JSON Keruj receives. */
  toJson(): string;
  /** Parses and validates a reply exactly as the host does; throws a FormError. */
  static fromJson(json: string): Form;
}
