// `complexity-router` in JavaScript: the same rules and the same reason
// strings as the Rust reference (`plugins/complexity-router/src/lib.rs`); the
// polyglot test holds them to it.
//
// Built with:
//   node plugins/js-build/componentize.mjs plugins/complexity-router-js/router.js wit router OUT.wasm

import { config } from 'sluice:policy/host@0.1.0';

function number(key, fallback) {
  const text = config(key);
  if (text === undefined) return fallback;
  const value = text.trim() === '' ? NaN : Number(text.trim());
  // An uncaught exception traps: the host counts a failure and falls back.
  if (Number.isNaN(value)) throw new Error(`setting ${key}=${JSON.stringify(text)} is not a number`);
  return value;
}

function words(key, fallback) {
  const text = config(key) ?? fallback;
  return text.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

function triageAsksForCloud(triage) {
  if (triage === undefined) return false;
  try {
    const value = JSON.parse(triage);
    return value !== null && typeof value === 'object' && value.escalate_to_cloud === true;
  } catch {
    return false;
  }
}

export const routing = {
  route(ctx) {
    const tags = ctx.tags.map((t) => t.toLowerCase());
    const tagged = (wanted) => tags.find((t) => wanted.includes(t));

    const refused = tagged(words('reject_tags', ''));
    if (refused !== undefined) return { route: 'reject', reasons: [`tag ${refused} is refused`] };
    if (ctx.budgetLeftUsd <= 0) return { route: 'local', reasons: ['cloud budget spent'] };

    const reasons = [];
    const hard = tagged(words('escalate_tags', 'hard,litigation'));
    if (hard !== undefined) reasons.push(`tag ${hard} escalates`);
    const minConfidence = number('min_confidence', 0.7);
    if (ctx.confidence < minConfidence) {
      reasons.push(`confidence ${ctx.confidence.toFixed(2)} below ${minConfidence.toFixed(2)}`);
    }
    const maxTokens = number('max_input_tokens', 3000);
    if (ctx.inputTokens > maxTokens) reasons.push(`${ctx.inputTokens} input tokens over ${maxTokens}`);
    if (triageAsksForCloud(ctx.triageJson)) reasons.push('triage asks for the cloud');
    if (reasons.length > 0) return { route: 'escalate', reasons };

    const share = number('parallel_share', 0);
    if (ctx.sample < share) {
      return { route: 'parallel', reasons: [`sample ${ctx.sample.toFixed(2)} within parallel share ${share.toFixed(2)}`] };
    }
    return { route: 'local', reasons: ['local is confident'] };
  },
};
