select user_id, sum(amount) as total, count(*) as events from {{ ref('events') }} group by user_id
