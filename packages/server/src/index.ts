export { createServer, type HeraldServer, type CreateServerOptions } from './server.js';
export { loadConfig, defaultConfig, options as configOptions, type Config } from './config.js';
export { errorCatalogue, HeraldError, type ErrorCode } from './errors.js';
export type { Store, StoredEvent, EventInput, ChannelHead } from './store/store.js';
export type { Broker, BrokerEvent } from './broker/broker.js';
export { SqliteStore } from './store/sqlite.js';
export { MemoryBroker } from './broker/memory.js';
