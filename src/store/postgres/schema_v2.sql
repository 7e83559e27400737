-- mdmlink PostgreSQL schema, version 2: devices a full fetch in progress has
-- not returned yet (tombstoned when the fetch completes).
ALTER TABLE mdmlink_dep_devices ADD COLUMN snapshot_pending BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX mdmlink_dep_devices_pending ON mdmlink_dep_devices (server_id) WHERE snapshot_pending;
