// The MQTT codec: packet types, constants, errors, decoder and encoder.
export * from './constants.js';
export * from './packets.js';
export * from './errors.js';
export { Decoder, WireDecoder, receivedBytes, type DecoderOptions, type PacketSink } from './decoder.js';
export { encode, encodePublish } from './encoder.js';
// The base class of the codec's errors, so that codec-only users can test `instanceof FennecError`.
export { FennecError, errorCodes, type FennecErrorCode } from '../errors/index.js';
