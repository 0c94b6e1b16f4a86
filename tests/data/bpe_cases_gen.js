// bpe_cases_gen.js - writes bpe_cases.json, the expected GPT-2 token ids of
// tests/test_bpe.c, with the npm package gpt-3-encoder's own encoder.
// Run once, outside the repository:
//   mkdir /tmp/g && cd /tmp/g && npm install gpt-3-encoder@1.1.4
//   NODE_PATH=/tmp/g/node_modules node tests/data/bpe_cases_gen.js > tests/data/bpe_cases.json
// gpt-3-encoder has no special tokens: "<|endoftext|>" in its input is plain
// text. Cases with "special": true are encoded here piece by piece around
// each "<|endoftext|>", which becomes id 50256 (its id in encoder.json).
const { encode } = require('gpt-3-encoder');

const texts = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  '  two leading spaces, runs   of    spaces and trailing   ',
  '          ',
  'line one\nline two\n\n\nthree\n',
  '\ttab\tand\r\nCRLF\r\n',
  "I'm sure you're right: they've said we'll see, he'd go. It's Bob's.",
  "UPPER 'S 'LL 'Ve don't",
  'Numbers: 12345 3.14159 2026-11-23 1,000,000 007',
  'Punctuation!!! ??? ... --- (a) [b] {c} <d> @#$%^&*_+=~`|\\/',
  'I love 🍕 and 👩‍💻 🎉!',
  'Café naïve résumé Zürich façade Ångström',
  '日本語のテキスト 中文字符 한국어',
  'Ελληνικά и русский текст',
  'non\u00a0breaking and ideographic\u3000space',
  'aaaaaaaaaaaaaaaaaaaaaa !!!!!!!!!!!! ------------',
  'antidisestablishmentarianism supercalifragilisticexpialidocious',
  '<|endoftext|>',
  'x<|endoftext|>y',
  '',
];
// Long pseudo-random cases (xorshift32, fixed seeds): one 2000-letter word,
// where merge order matters most, and 3000 characters of mixed text.
function xorshift(seed) {
  let x = seed >>> 0;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}
{
  const r = xorshift(12345);
  let w = '';
  for (let i = 0; i < 2000; i++) w += String.fromCharCode(97 + r() % 26);
  texts.push(w);
  const r2 = xorshift(777);
  const extra = ['é', 'ß', '中', '😀', '\n', '  ', "'s", '1', '.'];
  let t = '';
  while (t.length < 3000) {
    const k = r2() % 10;
    t += k < 8 ? String.fromCharCode(32 + r2() % 95) : extra[r2() % extra.length];
  }
  texts.push(t);
}
const special = ['<|endoftext|>', 'x<|endoftext|>y', 'end.<|endoftext|><|endoftext|> Next'];

function encodeSpecial(t) {
  const parts = t.split('<|endoftext|>');
  let ids = [];
  parts.forEach((p, i) => {
    if (i > 0) ids.push(50256);
    ids = ids.concat(encode(p));
  });
  return ids;
}

const cases = texts.map(t => ({ text: t, special: false, ids: encode(t) }))
  .concat(special.map(t => ({ text: t, special: true, ids: encodeSpecial(t) })));
process.stdout.write(JSON.stringify({ generator: 'gpt-3-encoder 1.1.4 encode()', cases }, null, 1) + '\n');
