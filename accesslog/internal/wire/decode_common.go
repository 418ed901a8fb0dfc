package wire

// This file decodes envoy.data.accesslog.v3.AccessLogCommon.

// decodeCommon decodes envoy.data.accesslog.v3.AccessLogCommon, merging into
// e (the field may occur more than once).
func decodeCommon(b []byte, e *Entry, st *entryState) error {
	e.HasCommon = true
	var (
		i, j int
		p    []byte
		v    uint64
		ok   bool
	)
	// Stage one: the fields in field-number order (see has1).
	if has1(b, i, 1<<3|wireFixed64) { // sample_rate: unused
		if len(b)-i < 9 {
			goto general
		}
		i += 9
	}
	if has1(b, i, 2<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.DownstreamRemote); err != nil {
			return wrap("downstream_remote_address", err)
		}
		i = j
	}
	if has1(b, i, 3<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.DownstreamLocal); err != nil {
			return wrap("downstream_local_address", err)
		}
		i = j
	}
	if has1(b, i, 4<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasTLS = true
		if err := decodeTLS(p, e, st); err != nil {
			return wrap("tls_properties", err)
		}
		i = j
	}
	if has1(b, i, 5<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasStartTime = true
		if err := decodeTimestamp(p, &st.start); err != nil {
			return wrap("start_time", err)
		}
		i = j
	}
	if has1(b, i, 6<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasTimeToLastRxByte = true
		if err := decodeTimestamp(p, &st.lastRx); err != nil {
			return wrap("time_to_last_rx_byte", err)
		}
		i = j
	}
	if has1(b, i, 7<<3|wireBytes) { // time_to_first_upstream_tx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 8<<3|wireBytes) { // time_to_last_upstream_tx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 9<<3|wireBytes) { // time_to_first_upstream_rx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 10<<3|wireBytes) { // time_to_last_upstream_rx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 11<<3|wireBytes) { // time_to_first_downstream_tx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 12<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasTimeToLastDownstreamTxByte = true
		if err := decodeTimestamp(p, &st.lastDownstreamTx); err != nil {
			return wrap("time_to_last_downstream_tx_byte", err)
		}
		i = j
	}
	if has1(b, i, 13<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.UpstreamRemote); err != nil {
			return wrap("upstream_remote_address", err)
		}
		i = j
	}
	if has1(b, i, 14<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.UpstreamLocal); err != nil {
			return wrap("upstream_local_address", err)
		}
		i = j
	}
	if has1(b, i, 15<<3|wireBytes) {
		if e.UpstreamCluster, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(16, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		if err := decodeResponseFlags(p, &e.ResponseFlags); err != nil {
			return wrap("response_flags", err)
		}
		i = j
	}
	if has2(b, i, tag2(17, wireBytes)) { // metadata
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(18, wireBytes)) {
		if e.UpstreamTransportFailureReason, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(19, wireBytes)) {
		if e.RouteName, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(20, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.DownstreamDirectRemote); err != nil {
			return wrap("downstream_direct_remote_address", err)
		}
		i = j
	}
	for has2(b, i, tag2(21, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		if err := decodeFilterState(p, e, st); err != nil {
			return wrap("filter_state_objects", err)
		}
		i = j
	}
	for has2(b, i, tag2(22, wireBytes)) { // custom_tags
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(23, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		e.HasDuration = true
		if err := decodeTimestamp(p, &st.duration); err != nil {
			return wrap("duration", err)
		}
		i = j
	}
	if has2(b, i, tag2(24, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.UpstreamRequestAttemptCount = uint32(v)
		i = j
	}
	if has2(b, i, tag2(25, wireBytes)) { // connection_termination_details
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(26, wireBytes)) {
		if e.StreamID, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(27, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.IntermediateLogEntry = v != 0
		i = j
	}
	if has2(b, i, tag2(28, wireBytes)) { // downstream_transport_failure_reason
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(29, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.DownstreamWireBytesSent = v
		i = j
	}
	if has2(b, i, tag2(30, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.DownstreamWireBytesReceived = v
		i = j
	}
	if has2(b, i, tag2(31, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.UpstreamWireBytesSent = v
		i = j
	}
	if has2(b, i, tag2(32, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.UpstreamWireBytesReceived = v
		i = j
	}
	if has2(b, i, tag2(33, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.AccessLogType = uint32(v)
		i = j
	}
	if i == len(b) {
		return nil
	}
general:
	return decodeCommonFields(b, i, e, st)
}

// decodeCommonFields is the general loop of decodeCommon, from b[i:].
func decodeCommonFields(b []byte, i int, e *Entry, st *entryState) error {
	for i < len(b) {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		// Switching on the field number within a wire type lets the
		// compiler use a jump table.
		switch tag & 7 {
		case wireBytes:
			var err error
			var name string
			switch tag >> 3 {
			case 2:
				name, err = "downstream_remote_address", decodeAddress(p, &e.DownstreamRemote)
			case 3:
				name, err = "downstream_local_address", decodeAddress(p, &e.DownstreamLocal)
			case 4:
				e.HasTLS = true
				name, err = "tls_properties", decodeTLS(p, e, st)
			case 5:
				e.HasStartTime = true
				name, err = "start_time", decodeTimestamp(p, &st.start)
			case 6:
				e.HasTimeToLastRxByte = true
				name, err = "time_to_last_rx_byte", decodeTimestamp(p, &st.lastRx)
			case 12:
				e.HasTimeToLastDownstreamTxByte = true
				name, err = "time_to_last_downstream_tx_byte", decodeTimestamp(p, &st.lastDownstreamTx)
			case 13:
				name, err = "upstream_remote_address", decodeAddress(p, &e.UpstreamRemote)
			case 14:
				name, err = "upstream_local_address", decodeAddress(p, &e.UpstreamLocal)
			case 15:
				e.UpstreamCluster = p
			case 16:
				name, err = "response_flags", decodeResponseFlags(p, &e.ResponseFlags)
			case 18:
				e.UpstreamTransportFailureReason = p
			case 19:
				e.RouteName = p
			case 20:
				name, err = "downstream_direct_remote_address", decodeAddress(p, &e.DownstreamDirectRemote)
			case 21:
				name, err = "filter_state_objects", decodeFilterState(p, e, st)
			case 23:
				e.HasDuration = true
				name, err = "duration", decodeTimestamp(p, &st.duration)
			case 26:
				e.StreamID = p
			}
			if err != nil {
				return wrap(name, err)
			}
		case wireVarint:
			switch tag >> 3 {
			case 24:
				e.UpstreamRequestAttemptCount = uint32(v)
			case 27:
				e.IntermediateLogEntry = v != 0
			case 29:
				e.DownstreamWireBytesSent = v
			case 30:
				e.DownstreamWireBytesReceived = v
			case 31:
				e.UpstreamWireBytesSent = v
			case 32:
				e.UpstreamWireBytesReceived = v
			case 33:
				e.AccessLogType = uint32(v)
			}
		}
	}
	return nil
}
