// The oracles' common protocol: stdin {"items": [...]}, stdout {"results": [...]}, one result per
// item, in order; an item that throws gives {"error": "<stack>"} in its place.
export async function answerEach(run) {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { items } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const results = [];
  for (const item of items) {
    try {
      results.push(await run(item));
    } catch (err) {
      results.push({ error: String(err && err.stack ? err.stack : err) });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}
