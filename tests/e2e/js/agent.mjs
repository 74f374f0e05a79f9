// A plain openai tool loop in Node.js that records its own GenAI spans, as a JS user can today:
// the OpenTelemetry JS SDK, spans and attributes set by hand (GenAI semantic conventions 1.37+,
// content as JSON strings in the "parts" shape), exported as OTLP/HTTP JSON.
//
//     node agent.mjs
//
// The same task, tools and prompts as tests/e2e/programs/openai_loop.py. Reads OPENAI_BASE_URL /
// OPENAI_API_KEY (the openai client does) and TRAJOTEL_ENDPOINT (the collector's OTLP/HTTP base
// URL); prints one line per tool result (`TOOL <id> <json>`) and the answer (`ANSWER <text>`).
//
// Spans: `invoke_agent weather-agent` (root, INTERNAL) around the loop, one `chat {model}` CLIENT
// span per model call and one `execute_tool {name}` INTERNAL span per tool call, both children
// of the root, so the collector sees one trace for the run and joins each tool span to the
// model's tool call by gen_ai.tool.call.id.

import { DiagConsoleLogger, DiagLogLevel, SpanKind, SpanStatusCode, diag, trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import OpenAI from "openai";

const MODEL = "default";
const MAX_TURNS = 5;
const TOOLS = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city.",
      parameters: {
        type: "object",
        properties: { city: { type: "string" } },
        required: ["city"],
      },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      description: "Add two integers.",
      parameters: {
        type: "object",
        properties: { a: { type: "integer" }, b: { type: "integer" } },
        required: ["a", "b"],
      },
    },
  },
];

// OpenAI finish reasons -> GenAI output-message finish reasons (the conventions say "tool_call").
const FINISH_REASONS = { tool_calls: "tool_call", function_call: "tool_call" };

function runTool(name, args) {
  if (name === "get_weather") return { city: args.city, forecast: "sunny", temp_c: 22 };
  return { sum: args.a + args.b };
}

// --- OpenAI chat messages as GenAI "parts" messages -----------------------------------------------

function toolCallPart(call) {
  let args;
  try {
    args = JSON.parse(call.function.arguments);
  } catch {
    args = call.function.arguments; // the conventions keep arguments that are not JSON as the string
  }
  return { type: "tool_call", id: call.id, name: call.function.name, arguments: args };
}

function genaiMessage(message) {
  if (message.role === "tool") {
    const response = { type: "tool_call_response", id: message.tool_call_id, response: message.content };
    return { role: "tool", parts: [response] };
  }
  const parts = message.content ? [{ type: "text", content: message.content }] : [];
  parts.push(...(message.tool_calls ?? []).map(toolCallPart));
  return { role: message.role, parts };
}

function toolDefinitions(tools) {
  return tools.map(({ type, function: f }) => ({
    type,
    name: f.name,
    description: f.description,
    parameters: f.parameters,
  }));
}

// --- spans ------------------------------------------------------------------------------------

function setupTracing() {
  // Export failures are only reported through diag: without a logger they would pass silently.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const endpoint = (process.env.TRAJOTEL_ENDPOINT ?? "http://127.0.0.1:4318").replace(/\/+$/, "");
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: "weather-agent-js" }),
    // The default exporter of this package is OTLP/HTTP with a JSON body.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }))],
  });
  provider.register(); // AsyncLocalStorage context: spans started in the loop find the root
  return provider;
}

// Runs fn(span) inside an active span; a thrown error marks the span failed and is rethrown.
async function inSpan(tracer, name, options, fn) {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.setAttribute("error.type", error?.constructor?.name ?? "Error");
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(error?.message ?? error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

async function chat(tracer, client, messages) {
  const server = new URL(client.baseURL);
  const attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": MODEL,
    "server.address": server.hostname,
    "server.port": Number(server.port || (server.protocol === "https:" ? 443 : 80)),
  };
  return inSpan(tracer, `chat ${MODEL}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    span.setAttributes({
      "gen_ai.input.messages": JSON.stringify(messages.map(genaiMessage)),
      "gen_ai.tool.definitions": JSON.stringify(toolDefinitions(TOOLS)),
    });
    const reply = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS });
    const output = reply.choices.map((choice) => ({
      ...genaiMessage(choice.message),
      finish_reason: FINISH_REASONS[choice.finish_reason] ?? choice.finish_reason,
    }));
    const usage = reply.usage ?? {};
    span.setAttributes({
      "gen_ai.response.id": reply.id,
      "gen_ai.response.model": reply.model,
      "gen_ai.response.finish_reasons": reply.choices.map((choice) => choice.finish_reason),
      "gen_ai.output.messages": JSON.stringify(output),
      "gen_ai.usage.input_tokens": usage.prompt_tokens,
      "gen_ai.usage.output_tokens": usage.completion_tokens,
      "gen_ai.usage.cache_read.input_tokens": usage.prompt_tokens_details?.cached_tokens,
      "gen_ai.usage.reasoning.output_tokens": usage.completion_tokens_details?.reasoning_tokens,
    });
    const { content, tool_calls } = reply.choices[0].message;
    return tool_calls?.length ? { role: "assistant", content, tool_calls } : { role: "assistant", content };
  });
}

async function executeTool(tracer, call) {
  const name = call.function.name;
  const attributes = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": name,
    "gen_ai.tool.type": "function",
    "gen_ai.tool.call.id": call.id,
    "gen_ai.tool.call.arguments": call.function.arguments,
  };
  return inSpan(tracer, `execute_tool ${name}`, { kind: SpanKind.INTERNAL, attributes }, async (span) => {
    const result = JSON.stringify(runTool(name, JSON.parse(call.function.arguments)));
    span.setAttribute("gen_ai.tool.call.result", result);
    return result;
  });
}

async function runAgent(tracer, client) {
  const attributes = { "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather-agent" };
  return inSpan(tracer, "invoke_agent weather-agent", { kind: SpanKind.INTERNAL, attributes }, async () => {
    const messages = [
      { role: "system", content: "You are a helpful assistant. Use the tools." },
      { role: "user", content: "What is the weather in Paris, and what is 21 + 21?" },
    ];
    for (let turn = 0; turn < MAX_TURNS; turn++) {
      const message = await chat(tracer, client, messages);
      messages.push(message);
      if (!message.tool_calls) return message.content;
      for (const call of message.tool_calls) {
        const result = await executeTool(tracer, call);
        console.log("TOOL", call.id, result);
        messages.push({ role: "tool", tool_call_id: call.id, content: result });
      }
    }
    throw new Error(`no answer after ${MAX_TURNS} model calls`);
  });
}

const provider = setupTracing();
try {
  const answer = await runAgent(trace.getTracer("weather-agent-js", "1.0.0"), new OpenAI({ maxRetries: 0 }));
  console.log("ANSWER", answer);
} finally {
  // Flushes the batch processor: the process must not exit before the collector has the spans.
  await provider.shutdown();
}
