import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'data/**',
      'bench/**',
      // The user app (apps/web/src) and its tests are linted with their own tsconfigs; the
      // admin dashboard and push code are type-checked by apps/web/tsconfig.json only.
      'apps/web/src/admin/**',
      'apps/web/src/push/**',
      'apps/web/public/**',
      'apps/web/vite.config.ts',
      'deploy/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: [
          './tsconfig.json',
          './packages/client/tsconfig.test.json',
          './packages/vue/tsconfig.test.json',
          './apps/web/tsconfig.test.json',
          './apps/web/tsconfig.json',
          './packages/react/tsconfig.test.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The server's code: no object literal that starts with a spread and adds properties
    // after it. In Node 20's V8 each property after such a spread goes through the runtime,
    // about 1 us apiece (docs/performance.md, "Object literals"): on a notification's path
    // eleven of them cost more than its SQL statements.
    files: ['packages/server/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ObjectExpression[properties.length>1] > SpreadElement:first-child',
          message:
            'A literal that starts with a spread and adds properties after it is slow in V8: list the fields, put the spread last, or use Object.assign.',
        },
      ],
    },
  },
  {
    // Tests poke at parsed JSON and wire bytes; strict any-safety there costs more than it finds.
    files: ['packages/*/test/**/*.ts', 'apps/*/test/**/*.ts', 'examples/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Plain Node scripts: globals such as process and console are Node's own.
    files: ['**/*.js', '**/*.mjs'],
    rules: { 'no-undef': 'off' },
  },
);
