// `complexity-router` in JavaScript: the same rules, settings and reason
// strings as the Rust reference (`plugins/complexity-router/src/lib.rs`, where
// the settings are described); the polyglot test holds them to it.
//
// Built with:
//   node plugins/js-build/componentize.mjs plugins/complexity-router-js/router.js wit router OUT.wasm

import { config } from 'sluice:policy/host@0.2.1';

function parse(key, text) {
  const value = text.trim() === '' ? NaN : Number(text.trim());
  // An uncaught exception traps: the host counts a failure and falls back.
  if (Number.isNaN(value)) throw new Error(`setting ${key}=${JSON.stringify(text)} is not a number`);
  return value;
}

function number(key, fallback) {
  const text = config(key);
  return text === undefined ? fallback : parse(key, text);
}

function optional(key) {
  const text = config(key);
  return text === undefined ? undefined : parse(key, text);
}

function words(key, fallback) {
  const text = config(key) ?? fallback;
  return text.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '');
}

// `a:b` items of a list setting.
function pairs(key) {
  return words(key, '').map((item) => {
    const at = item.indexOf(':');
    if (at < 0) throw new Error(`setting ${key} item ${JSON.stringify(item)} is not name:value`);
    return [item.slice(0, at).trim(), item.slice(at + 1).trim()];
  });
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
    if (refused !== undefined) return { route: 'reject', reasons: [`tag ${refused} is refused`], doubtful: [] };
    if (ctx.budgetLeftUsd <= 0) return { route: 'local', reasons: ['cloud budget spent'], doubtful: [] };

    const reasons = [];
    const doubtful = [];
    const doubt = (field) => {
      if (!doubtful.includes(field)) doubtful.push(field);
    };
    const hard = tagged(words('escalate_tags', 'hard,litigation'));
    if (hard !== undefined) reasons.push(`tag ${hard} escalates`);
    const minConfidence = number('min_confidence', 0.7);
    if (ctx.confidence < minConfidence) {
      reasons.push(`confidence ${ctx.confidence.toFixed(2)} below ${minConfidence.toFixed(2)}`);
    }
    const maxTokens = number('max_input_tokens', 3000);
    if (ctx.inputTokens > maxTokens) reasons.push(`${ctx.inputTokens} input tokens over ${maxTokens}`);
    if (triageAsksForCloud(ctx.triageJson)) reasons.push('triage asks for the cloud');
    for (const [field, thresholdText] of pairs('field_thresholds')) {
      const threshold = parse('field_thresholds', thresholdText);
      const signal = ctx.fields.find((f) => f.name === field);
      if (signal !== undefined && signal.confidence < threshold) {
        reasons.push(`${field} confidence ${signal.confidence.toFixed(2)} below ${threshold.toFixed(2)}`);
        doubt(field);
      }
    }
    const doc = ctx.document;
    if (doc !== undefined) {
      const requireLaw = (config('require_governing_law') ?? '').trim() === 'true';
      if (requireLaw && doc.governingLaws === 0) {
        reasons.push('no governing law found');
        doubt('governing_law');
      }
      const maxLaws = optional('max_governing_laws');
      if (maxLaws !== undefined && doc.governingLaws > maxLaws) {
        reasons.push(`${doc.governingLaws} governing laws named, over ${maxLaws}`);
        doubt('governing_law');
      }
      const maxParties = optional('max_parties');
      if (maxParties !== undefined && doc.parties > maxParties) {
        reasons.push(`${doc.parties} parties, over ${maxParties}`);
        doubt('parties');
      }
      for (const [flag, kind] of pairs('flag_escalations')) {
        if (doc.riskFlags.includes(flag) && doc.clauseKinds.includes(kind)) {
          reasons.push(`${flag} with ${kind} present`);
          doubt('risk_flags');
        }
      }
    }
    if (reasons.length > 0) return { route: 'escalate', reasons, doubtful };

    const share = number('parallel_share', 0);
    if (ctx.sample < share) {
      return { route: 'parallel', reasons: [`sample ${ctx.sample.toFixed(2)} within parallel share ${share.toFixed(2)}`], doubtful: [] };
    }
    return { route: 'local', reasons: ['local is confident'], doubtful: [] };
  },
};
