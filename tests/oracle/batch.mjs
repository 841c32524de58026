// The oracles' common protocol: stdin {"items": [...]}, stdout {"results": [...]}, one result per
// item, in order; an item that throws gives {"error": "<stack>"} in its place.
// With --serve the script stays up and answers one such request per line of stdin with one line
// of stdout, until stdin closes (tests/oracle/__init__.py keeps one running per test process:
// starting node and loading the libraries took a second or more per request).
import readline from "node:readline";

async function answerAll(run, items) {
  const results = [];
  for (const item of items) {
    try {
      results.push(await run(item));
    } catch (err) {
      results.push({ error: String(err && err.stack ? err.stack : err) });
    }
  }
  return { results };
}

export async function answerEach(run) {
  if (process.argv.includes("--serve")) {
    for await (const line of readline.createInterface({ input: process.stdin, crlfDelay: Infinity })) {
      if (!line.trim()) continue;
      const { items } = JSON.parse(line);
      process.stdout.write(JSON.stringify(await answerAll(run, items)) + "\n");
    }
    return;
  }
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { items } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  process.stdout.write(JSON.stringify(await answerAll(run, items)));
}
