// The groups wire format: every message round-trips, the decoder enforces its limits and
// rejects malformed bytes, and a bond proof binds the key, the connection and the sender.
#include "smalti/groups/group_messages.hpp"

#include <gtest/gtest.h>

#include <set>

namespace smalti::groups {
namespace {

const PeerId kA{Digest::from_u64(1)};
const PeerId kB{Digest::from_u64(2)};
const PeerId kC{Digest::from_u64(3)};
const Header kHeader{Digest::from_string("cluster"), 4, 77, 9};

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// One message of every alternative (and every Raft message), with no field left at its default.
std::vector<GroupMessage> one_of_each() {
  const LogEntry command{3, EntryKind::kCommand, bytes_of("set x 1")};
  const LogEntry config{4, EntryKind::kConfig, encode(VoterSet{{{kA, 5}, {kB, 7}}})};
  const LogEntry noop{4, EntryKind::kNoop, {}};
  return {
      Hello{.network = Digest::from_string("net"),
            .group = Digest::from_string("group"),
            .proof = Digest::from_string("proof"),
            .observer = true,
            .incarnation = 12,
            .bonds = {kB, kC}},
      Welcome{.proof = Digest::from_string("welcome-proof"),
              .observer = true,
              .incarnation = 13,
              .bonds = {kA}},
      Ping{},
      Pong{},
      Departure{},
      BondFormed{kC},
      RaftFrame{AppendEntries{kHeader, Cursor{3, 8}, {command, config, noop}, 21, 5}},
      RaftFrame{AppendResponse{kHeader, true, 11, 21, true}},
      RaftFrame{VoteRequest{kHeader, Cursor{4, 11}, true}},
      RaftFrame{VoteResponse{kHeader, 5, true, Vote::kAbstained}},
      // The deepest message: an availability answer offering a snapshot with its configuration.
      RaftFrame{SyncAvailability{
          kHeader, false, 3, 40,
          SnapshotMeta{30, 4, Digest::from_string("cluster"), VoterSet{{{kA, 5}, {kB, 7}}}, 3,
                       Digest::hash(bytes_of("abc"))}}},
      RaftFrame{SyncFetch{kHeader, 3, 9}},
      RaftFrame{SyncEntries{kHeader, 3, {command, noop}}},
      RaftFrame{SnapshotFetch{kHeader, 30, Digest::from_string("digest"), kSnapshotChunkBytes}},
      RaftFrame{SnapshotChunk{kHeader, 30, Digest::from_string("digest"), 0, bytes_of("abc"),
                              snapshot_chunk_checksum(30, 0, bytes_of("abc"))}},
      ForwardCommands{31, {bytes_of("a"), bytes_of("bc"), {}}},
      CommandsAccepted{31, true, Cursor{4, 12}},
      ForwardQuery{32, bytes_of("get x")},
      QueryAnswer{32, true, bytes_of("1"), 12},
  };
}

StatusCode decode_code(ByteView bytes) {
  auto decoded = decode_group_message(bytes);
  return decoded.is_ok() ? StatusCode::kOk : decoded.status().code();
}

TEST(GroupMessages, EveryMessageRoundTrips) {
  std::set<std::size_t> alternatives;
  std::set<std::size_t> raft_alternatives;
  for (const GroupMessage& m : one_of_each()) {
    alternatives.insert(m.index());
    if (const auto* raft = std::get_if<RaftFrame>(&m))
      raft_alternatives.insert(raft->message.index());
    const Bytes bytes = encode(m);
    auto decoded = decode_group_message(bytes);
    ASSERT_TRUE(decoded.is_ok()) << "alternative " << m.index() << ": "
                                 << decoded.status().message();
    EXPECT_EQ(*decoded, m) << "alternative " << m.index();
    EXPECT_EQ(encode(*decoded), bytes) << "alternative " << m.index() << " is not canonical";
  }
  // A new alternative must be added above.
  EXPECT_EQ(alternatives.size(), std::variant_size_v<GroupMessage>);
  EXPECT_EQ(raft_alternatives.size(), std::variant_size_v<RaftMessage>);
}

TEST(GroupMessages, ARaftFrameEncodesLikeItsGroupMessage) {
  std::size_t frames = 0;
  for (const GroupMessage& m : one_of_each()) {
    if (const auto* raft = std::get_if<RaftFrame>(&m)) {
      EXPECT_EQ(encode_raft_frame(raft->message), encode(m))
          << "alternative " << raft->message.index();
      ++frames;
    }
  }
  EXPECT_EQ(frames, std::variant_size_v<RaftMessage>);
}

TEST(GroupMessages, AnOversizedFrameIsALimitNotMalformed) {
  EXPECT_EQ(decode_code(Bytes(kMaxMessageSize + 1, 0)), StatusCode::kLimitExceeded);
  // A valid message padded past the limit is refused before it is looked at.
  Bytes padded = encode(GroupMessage(Ping{}));
  padded.resize(kMaxMessageSize + 1, 0);
  EXPECT_EQ(decode_code(padded), StatusCode::kLimitExceeded);
}

TEST(GroupMessages, AnAppendEntriesWithTooManyEntriesIsALimit) {
  AppendEntries ae{kHeader, Cursor{}, {}, 1};
  ae.entries.assign(kMaxEntriesPerAppend, LogEntry{1, EntryKind::kNoop, {}});
  EXPECT_EQ(decode_code(encode(GroupMessage(RaftFrame{ae}))), StatusCode::kOk);
  ae.entries.push_back(LogEntry{1, EntryKind::kNoop, {}});
  EXPECT_EQ(decode_code(encode(GroupMessage(RaftFrame{ae}))), StatusCode::kLimitExceeded);
}

TEST(GroupMessages, AHandshakeAdvertisingTooManyBondsIsALimit) {
  std::vector<PeerId> bonds;
  for (std::uint64_t i = 0; i < kMaxAdvertisedBonds; ++i) bonds.push_back({Digest::from_u64(i)});
  Hello hello{.network = Digest::from_string("net"), .bonds = bonds};
  Welcome welcome{.proof = Digest::from_string("proof"), .bonds = bonds};
  EXPECT_EQ(decode_code(encode(GroupMessage(hello))), StatusCode::kOk);
  EXPECT_EQ(decode_code(encode(GroupMessage(welcome))), StatusCode::kOk);
  hello.bonds.push_back(kA);
  welcome.bonds.push_back(kA);
  EXPECT_EQ(decode_code(encode(GroupMessage(hello))), StatusCode::kLimitExceeded);
  EXPECT_EQ(decode_code(encode(GroupMessage(welcome))), StatusCode::kLimitExceeded);
}

TEST(GroupMessages, TruncatedBytesAreMalformed) {
  for (const GroupMessage& m : one_of_each()) {
    const Bytes bytes = encode(m);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
      EXPECT_EQ(decode_code(ByteView(bytes.data(), n)), StatusCode::kMalformed)
          << "alternative " << m.index() << " cut to " << n << " of " << bytes.size() << " bytes";
    }
  }
}

TEST(GroupMessages, GarbageIsMalformed) {
  const auto index = static_cast<std::uint8_t>(std::variant_size_v<GroupMessage>);
  EXPECT_EQ(decode_code(Bytes{index}), StatusCode::kMalformed) << "unknown alternative";
  EXPECT_EQ(decode_code(Bytes{0xff, 0xff}), StatusCode::kMalformed);
  Bytes trailing = encode(GroupMessage(Pong{}));
  trailing.push_back(0);
  EXPECT_EQ(decode_code(trailing), StatusCode::kMalformed) << "trailing bytes";

  // A bool that is neither 0 nor 1: Welcome's observer follows its 32-byte proof.
  Bytes welcome = encode(GroupMessage(Welcome{.proof = Digest::from_string("p")}));
  ASSERT_EQ(welcome[1 + Digest::kSize], 0);
  welcome[1 + Digest::kSize] = 2;
  EXPECT_EQ(decode_code(welcome), StatusCode::kMalformed) << "bool out of range";

  // An entry kind past kConfig: the entry's term (one byte) then its kind; the round and the
  // log start (one byte each) follow the entry.
  AppendEntries ae{kHeader, Cursor{1, 1}, {LogEntry{2, EntryKind::kConfig, {}}}, 1};
  Bytes append = encode(GroupMessage(RaftFrame{ae}));
  const Bytes entry = encode(ae.entries[0]);
  ASSERT_EQ(entry.size(), 3u);  // term, kind, empty payload
  ASSERT_EQ(append[append.size() - 4], static_cast<std::uint8_t>(EntryKind::kConfig));
  append[append.size() - 4] = 3;
  EXPECT_EQ(decode_code(append), StatusCode::kMalformed) << "enum out of range";
}

TEST(GroupMessages, ABondProofDependsOnKeyLinkSecretAndSender) {
  const Digest key = Digest::from_string("key");
  const Digest link = Digest::from_string("link");
  const Digest proof = bond_proof(key, link, kA);
  EXPECT_EQ(proof, bond_proof(key, link, kA));
  EXPECT_NE(proof, bond_proof(Digest::from_string("other-key"), link, kA));
  EXPECT_NE(proof, bond_proof(key, Digest::from_string("other-link"), kA));
  EXPECT_NE(proof, bond_proof(key, link, kB)) << "one end's proof would serve the other";
  // The proof is not the key or the link secret itself.
  EXPECT_NE(proof, key);
  EXPECT_NE(proof, link);
  EXPECT_NE(bond_secret_label(Digest::from_string("g1")),
            bond_secret_label(Digest::from_string("g2")));
}

}  // namespace
}  // namespace smalti::groups
