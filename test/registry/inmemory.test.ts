import { describe } from 'node:test';
import { inMemoryFactory } from './fixtures.js';
import { servicesContract } from './services-contract.js';

describe('registry services on the inmemory driver', () => servicesContract(inMemoryFactory));
