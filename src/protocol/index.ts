// The MQTT codec: packet types, constants, errors, decoder and encoder.
export * from './constants.js';
export * from './packets.js';
export * from './errors.js';
export { Decoder, type DecoderOptions, type PacketSink } from './decoder.js';
export { encode, encodePublish } from './encoder.js';
