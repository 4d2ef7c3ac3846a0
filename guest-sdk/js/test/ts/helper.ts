// Imported as './helper.js', as TypeScript writes it: the loader finds this .ts file.

export interface Greeting {
  name: string;
}

export const greet = ({ name }: Greeting): string => `Hello, ${name}`;
