// A small HTTP proxy between the browser and the gateway whose open streams a test can cut.
//
// Chromium's offline emulation leaves an open EventSource alone, so "the stream drops" needs
// a link the test owns. The proxy forwards every request to the gateway unchanged except
// Host and Origin, which it rewrites to the gateway's (the gateway and the functions refuse
// a foreign Host or Origin, rightly); responses stream through as they arrive.
import http from "node:http";

export async function startCutter(targetOrigin) {
  const target = new URL(targetOrigin);
  const open = new Set();
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, host: target.host };
    if (headers.origin) headers.origin = target.origin;
    delete headers.referer;
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        if (req.url.startsWith("/api/v1/stream")) {
          const link = { res, upstream, answer };
          open.add(link);
          res.on("close", () => open.delete(link));
        }
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "Content-Type": "application/json" });
      res.end('{"error":"bad_gateway","message":"the test proxy lost the gateway"}');
    });
    req.pipe(upstream);
  });
  await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    /** Drop every open stream connection, both ends; returns how many there were. */
    cutStreams() {
      const count = open.size;
      for (const link of open) {
        link.res.socket?.destroy();
        link.answer.destroy();
        link.upstream.destroy();
      }
      open.clear();
      return count;
    },
    openStreams: () => open.size,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections?.();
        server.close(() => done());
      }),
  };
}
