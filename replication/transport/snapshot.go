package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// InstallSnapshot implements raft.Transport: it streams the snapshot in
// chunks of SnapshotChunkBytes. The deadline grows with the snapshot's size:
// RPCTimeout + size / SnapshotBytesPerSecondMin.
func (g *GroupTransport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	p, err := g.t.peerFor(string(target))
	if err != nil {
		return err
	}
	c, err := p.client()
	if err != nil {
		return err
	}
	cfg := g.t.cfg
	timeout := cfg.RPCTimeout + time.Duration(float64(args.Size)/float64(cfg.SnapshotBytesPerSecondMin)*float64(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = sendSnapshot(ctx, c, g.id, args, resp, data, cfg.SnapshotChunkBytes)
	p.observe(err)
	if err != nil {
		return fmt.Errorf("transport: group %d install snapshot (%d bytes) to %s: %w", g.id, args.Size, target, err)
	}
	return nil
}

func sendSnapshot(ctx context.Context, c pb.RaftTransportClient, group uint64, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader, chunkBytes int) error {
	stream, err := c.InstallSnapshot(ctx)
	if err != nil {
		return err
	}
	first := &pb.InstallSnapshotChunk{Chunk: &pb.InstallSnapshotChunk_Request{Request: encodeInstallSnapshotRequest(group, args)}}
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		// A fresh buffer each time: grpc-go forbids modifying a message after SendMsg.
		buf := make([]byte, chunkBytes)
		n, readErr := io.ReadFull(data, buf)
		if n > 0 {
			if err := stream.Send(&pb.InstallSnapshotChunk{Chunk: &pb.InstallSnapshotChunk_Data{Data: buf[:n]}}); err != nil {
				return err
			}
		}
		if errors.Is(readErr, io.EOF) || errors.Is(readErr, io.ErrUnexpectedEOF) {
			break
		}
		if readErr != nil {
			return fmt.Errorf("reading snapshot: %w", readErr)
		}
	}
	m, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	return decodeInstallSnapshotResponse(m, resp)
}
