/**
 * The API described (issue 15, "Described"): the OpenAPI document is generated from the route
 * schemas, served without a key, and the committed docs/host-openapi.json does not drift from it.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPENAPI_PATH } from '../../host/service/api.js';
import { OPENAPI_DOC, formatDocument, openApiDocument } from '../../host/service/openapi.js';
import { open } from './apiHarness.js';

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { requestBody?: unknown; parameters?: unknown[]; responses: Record<string, unknown> }>
  >;
};

describe('OpenAPI document', () => {
  it('docs/host-openapi.json is the document the API generates (regenerate: npx tsx host/service/openapi.ts --write)', async () => {
    const generated = await openApiDocument();
    const committed = JSON.parse(readFileSync(OPENAPI_DOC, 'utf8')) as unknown;
    expect(committed).toEqual(generated);
    // and byte for byte as the script writes it (prettier's JSON), so lint and the file agree
    expect(readFileSync(OPENAPI_DOC, 'utf8')).toBe(await formatDocument(generated));
  });

  it(`is served at ${OPENAPI_PATH} without a key, and describes the routes from their schemas`, async () => {
    const { app } = open();
    const r = await app.inject({ method: 'GET', url: OPENAPI_PATH });
    expect(r.statusCode).toBe(200);
    const doc = r.json() as Doc;
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/meters',
      '/meters/{id}',
      '/meters/{id}/usage',
      '/subscribers',
      '/cards',
      '/credits',
      '/recharges',
      '/events',
      '/health',
    ])
      expect(Object.keys(doc.paths)).toContain(p);
    // the bounds written once in schemas.ts are what the document says
    const rc = doc.paths['/recharges']!['post']!.requestBody as {
      content: {
        'application/json': {
          schema: { properties: Record<string, { maximum?: number; minimum?: number }>; required: string[] };
        };
      };
    };
    const body = rc.content['application/json'].schema;
    expect(body.properties['amount']).toMatchObject({ minimum: 1, maximum: 0xffffffff });
    expect(body.required.sort()).toEqual(['account', 'amount', 'meterId', 'method', 'requestId']);
    expect(Object.keys(doc.paths['/recharges']!['post']!.responses)).toEqual(
      expect.arrayContaining(['200', '400', '402', '404']),
    );
    const events = doc.paths['/events']!['get']!.parameters as Array<{
      name: string;
      in: string;
      schema: { type: string };
    }>;
    expect(events).toContainEqual(
      expect.objectContaining({
        name: 'limit',
        in: 'query',
        schema: expect.objectContaining({ type: 'integer' }),
      }),
    );
    // /health is public in the document as on the wire
    expect((doc.paths['/health']!['get'] as { security?: unknown }).security).toEqual([]);
  });
});
