// What happens to a workerd's stdout and stderr during the benchmark. Portcullis writes one audit
// line per request; letting Miniflare parse every line (handleStructuredLogs) puts JSON parsing in
// the harness's process, on the same two cores as the gateway under load. So output is drained
// unread, and parsed only while a probe asks why a request was refused.

/** Miniflare options plus capture(action) → { result, logs: [{ level, message }] }. */
export function workerdLogs() {
  let captured = null;
  const drain = (stream) => {
    let partial = "";
    stream.on("data", (chunk) => {
      if (!captured) return;
      const lines = (partial + chunk).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        try {
          const { level, message } = JSON.parse(line);
          captured.push({ level, message });
        } catch {
          // not a structured line (workerd's own messages, or a line cut by starting mid-stream)
        }
      }
    });
  };
  return {
    options: {
      // One JSON object per line, as with handleStructuredLogs, but read by us and only on demand.
      structuredWorkerdLogs: true,
      handleRuntimeStdio(stdout, stderr) {
        drain(stdout);
        drain(stderr);
      },
    },
    async capture(action) {
      captured = [];
      try {
        const result = await action();
        // Lines travel through a pipe; give the last one a moment to arrive.
        await new Promise((resolve) => setTimeout(resolve, 100));
        return { result, logs: captured };
      } finally {
        captured = null;
      }
    },
  };
}
