import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'localstack/.venv/**',
      'providers/instance-types.generated.ts',
      'proto/generated/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/ipamd/**'], message: 'nothing imports ipamd but its own entry point' }] },
      ],
    },
  },
  {
    files: ['ipamd/**', 'test/**', 'lab/**', 'ctl/**', 'scripts/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['cni/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/ipamd/**', '**/providers/**', '@aws-sdk/*', '@azure/*', '@grpc/*'],
              message: 'the plugin stays lean: cni imports proto only',
            },
          ],
        },
      ],
    },
  },
);
