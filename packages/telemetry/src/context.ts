import {
  context,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
  type Link,
  type TextMapGetter,
  type TextMapSetter,
} from "@opentelemetry/api";

/** The headers of a NATS message as far as propagation needs them (nats.js' MsgHdrs fits). */
export interface HeaderReader {
  /** The value, or "" when the header is absent (nats.js' convention). */
  get(key: string): string;
  keys(): string[];
}

const getter: TextMapGetter<HeaderReader> = {
  get: (carrier, key) => carrier.get(key) || undefined,
  keys: (carrier) => carrier.keys(),
};

const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The W3C trace context (and baggage) of `ctx` as message headers. */
export function injectContext(ctx: Context = context.active()): Record<string, string> {
  const headers: Record<string, string> = {};
  propagation.inject(ctx, headers, setter);
  return headers;
}

/** The context a message's headers carry, on top of the root context (a consumer has no parent of its own). */
export function extractContext(headers: HeaderReader | undefined): Context {
  return headers ? propagation.extract(ROOT_CONTEXT, headers, getter) : ROOT_CONTEXT;
}

/** A link to the span a message was published in, when its headers carry one. */
export function linkFrom(headers: HeaderReader | undefined, attributes?: Link["attributes"]): Link | undefined {
  const spanContext = trace.getSpanContext(extractContext(headers));
  if (spanContext === undefined || !trace.isSpanContextValid(spanContext)) return undefined;
  return attributes ? { context: spanContext, attributes } : { context: spanContext };
}

/** Links to the spans that published `messages`, at most `max` (the last ones), skipping untraced messages. */
export function linksFrom(messages: readonly { headers: HeaderReader | undefined }[], max = 64): Link[] {
  const links: Link[] = [];
  for (const message of messages.slice(-max)) {
    const link = linkFrom(message.headers);
    if (link) links.push(link);
  }
  return links;
}
