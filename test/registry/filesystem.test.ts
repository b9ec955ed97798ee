import { describe } from 'node:test';
import { filesystemFactory } from './fixtures.js';
import { servicesContract } from './services-contract.js';

describe('registry services on the filesystem driver', () => servicesContract(filesystemFactory));
