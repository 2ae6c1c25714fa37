// The embedded backend's HTTP side: Prefect 1 clients POST `{query, variables}` to the
// endpoint, `variables` being a JSON-encoded string. Binds 127.0.0.1 on a free port.
import { createServer, type IncomingMessage } from "node:http";
import getPort from "get-port";
import { graphql } from "graphql";
import { type RequestContext, resolvers } from "./resolvers.js";
import { schema } from "./schema.js";
import { Store } from "./store.js";

export interface Backend {
  /** The GraphQL endpoint, e.g. `http://127.0.0.1:4200/graphql`. */
  url: string;
  store: Store;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startBackend(): Promise<Backend> {
  const store = new Store();
  const rootValue = resolvers(store);

  const server = createServer(async (request, response) => {
    response.setHeader("content-type", "application/json");
    if (request.method !== "POST") {
      response.statusCode = 405;
      response.end('{"errors":[{"message":"POST a GraphQL request"}]}');
      return;
    }
    let payload: { query?: string; variables?: unknown };
    try {
      payload = JSON.parse((await readBody(request)) || "{}");
      if (typeof payload.variables === "string") payload.variables = JSON.parse(payload.variables);
    } catch {
      response.statusCode = 400;
      response.end('{"errors":[{"message":"the body is not JSON"}]}');
      return;
    }
    const agentId = request.headers["x-prefect-agent-id"];
    const contextValue: RequestContext = typeof agentId === "string" ? { agentId } : {};
    const result = await graphql({
      schema,
      source: payload.query ?? "",
      rootValue,
      contextValue,
      variableValues: (payload.variables ?? undefined) as Record<string, unknown> | undefined,
    });
    response.end(JSON.stringify(result));
  });
  const port = await getPort({ host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    store,
    close: async () => {
      // Prefect's clients keep connections alive; close them, or close() waits for them.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
